"""Weighted box fusion of several models' detections of one frame, on one score scale.

Models' scores mean different things (FastestDet's authors threshold at 0.65, YOLOX's at 0.3), so before anything
compares or fuses them each model's scores are put on a common scale by `calibrate`: a power curve that maps the
model's own operating threshold onto COMMON_THRESHOLD and keeps the order of its scores (and so its AP).

Boxes of different models that overlap are clustered (at most one box per model per cluster, class-agnostic
because weak models confuse classes); a cluster becomes one box whose coordinates are the confidence-weighted mean,
whose class is the confidence-weighted vote and whose confidence is its most confident member's times the share of
the models that saw it: two models agreeing keep the surer score (their mean dragged a sure box down to an unsure
model's), a box only one of two saw keeps half its score (on TUD-Campus keeping it whole let FastestDet's false
boxes into YOLOX-Nano's labels: HOTA 0.404 instead of 0.417)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from data_engine.detections import Detections, Provenance, box_iou

COMMON_THRESHOLD = 0.3
"""The score every model's operating threshold is mapped onto before fusion and hindsight."""


def calibrate(detections: Detections, operating_threshold: float) -> Detections:
    """The boxes with scores s ** (log COMMON / log operating_threshold): the model's threshold lands on
    COMMON_THRESHOLD, 0 and 1 stay, the ranking is unchanged."""
    if not 0.0 < operating_threshold < 1.0 or operating_threshold == COMMON_THRESHOLD or not len(detections):
        return detections
    power = np.log(COMMON_THRESHOLD) / np.log(operating_threshold)
    scores = np.power(detections.confidence.astype(np.float64), power)
    return Detections(
        detections.xyxy, scores, detections.class_id, detections.track_id, detections.provenance, detections.names
    )


def fuse_frame(per_model: Sequence[Detections], iou_threshold: float = 0.55) -> Detections:
    """One fused `Detections` from the detections of several models on the same frame."""
    names = per_model[0].names if per_model else {}
    if len(per_model) == 1:
        return per_model[0]
    everything = Detections.concat(per_model, names)
    if not len(everything):
        return Detections.empty(names)
    model_of = np.concatenate([np.full(len(part), index) for index, part in enumerate(per_model)])
    clusters: list[list[int]] = []
    fused_boxes: list[np.ndarray] = []
    for row in np.argsort(-everything.confidence, kind="stable"):
        candidates = [
            cluster
            for cluster, members in enumerate(clusters)
            if model_of[row] not in {model_of[member] for member in members}
        ]
        if candidates:
            overlaps = box_iou(everything.xyxy[row], np.array([fused_boxes[c] for c in candidates]))[0]
            best = int(np.argmax(overlaps))
            if overlaps[best] >= iou_threshold:
                cluster = candidates[best]
                clusters[cluster].append(int(row))
                fused_boxes[cluster] = _weighted_box(everything, clusters[cluster])
                continue
        clusters.append([int(row)])
        fused_boxes.append(everything.xyxy[row].copy())
    return _fused_detections(everything, clusters, fused_boxes, len(per_model), names)


def _weighted_box(detections: Detections, members: list[int]) -> np.ndarray:
    weights = detections.confidence[members]
    return (detections.xyxy[members] * weights[:, None]).sum(axis=0) / max(float(weights.sum()), 1e-9)


def _fused_detections(
    everything: Detections, clusters: list[list[int]], boxes: list[np.ndarray], model_count: int, names: dict
) -> Detections:
    confidence, class_id, provenance = [], [], []
    for members in clusters:
        scores = everything.confidence[members]
        votes: dict[int, float] = {}
        for member in members:
            votes[int(everything.class_id[member])] = votes.get(int(everything.class_id[member]), 0.0) + float(
                everything.confidence[member]
            )
        class_id.append(max(votes, key=votes.__getitem__))
        confidence.append(float(scores.max()) * len(members) / model_count)
        models = tuple(sorted({model for member in members for model in everything.provenance[member].models}))
        if len(members) == 1:
            provenance.append(everything.provenance[members[0]])
        else:
            provenance.append(Provenance("fused", models, fused_from=len(members)))
    return Detections(
        xyxy=np.array(boxes),
        confidence=np.array(confidence),
        class_id=np.array(class_id),
        provenance=provenance,
        names=names,
    )
