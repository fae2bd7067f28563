"""Boxes scored against MOTChallenge ground truth as TrackEval scores them.

Ground-truth boxes marked 0 are ignored, only the pedestrian class (or every box, in files without a class column)
is evaluated, and a predicted box that matches a distractor class (person on a vehicle, static person,
distractor, reflection) or a box less visible than `min_visibility` (IoU >= 0.5) is dropped rather than counted as
a false positive. Then detection: precision, recall and F1 at IoU 0.5 (one-to-one Hungarian matching per frame)
and AP50 from the boxes' confidences (pycocotools' COCOeval; boxes without a confidence count as 1); tracking:
HOTA, MOTA, IDF1 (and MOTP, ID switches) from TrackEval's metric classes; errors per frame: missed plus false boxes.

Frames of several sequences are scored together by concatenating them, with each sequence's ids kept apart
(`concatenate`): every figure then pools the sequences' counts, as TrackEval combines sequences.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from data_engine.autolabel.evaluation import Metrics
from data_engine.detections import Detections, box_iou, match_boxes
from data_engine.evaluation.mot import DISTRACTOR_CLASSES, PEDESTRIAN, MotTable

IOU = 0.5
ID_STRIDE = 1 << 32
"""Ids of the n-th sequence concatenated start at n * ID_STRIDE."""


@dataclass(frozen=True)
class DetectionScores:
    """Boxes against the ground truth at IoU 0.5 (`counts`: precision, recall, F1); `ap50` None when there is no
    ground truth to rank against."""

    counts: Metrics
    ap50: float | None

    def to_json(self) -> dict[str, Any]:
        return {**self.counts.as_dict(), "ap50": None if self.ap50 is None else round(self.ap50, 4)}


@dataclass(frozen=True)
class TrackingScores:
    """TrackEval's figures for one set of tracks (HOTA averaged over its IoU thresholds)."""

    hota: float
    deta: float
    assa: float
    mota: float
    motp: float
    idf1: float
    id_switches: int

    def to_json(self) -> dict[str, Any]:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}


@dataclass(frozen=True)
class Frame:
    """One frame after MOTChallenge's preprocessing: the ground truth to find and the boxes that count."""

    gt_xyxy: np.ndarray
    gt_ids: np.ndarray
    xyxy: np.ndarray
    ids: np.ndarray
    confidence: np.ndarray


def prepare(gt: MotTable, predicted: Sequence[Detections | None], min_visibility: float) -> list[Frame]:
    """Per frame: drop predicted boxes on distractors and on barely visible objects, keep the ground truth that is
    evaluated (mark not 0, pedestrian class, visible enough)."""
    frames = []
    for index, found in enumerate(predicted):
        rows = gt.rows_at(index + 1)
        gt_xyxy = gt.xyxy[rows]
        boxes = found if found is not None else Detections.empty()
        counted = (gt.confidence[rows] != 0) & (gt.class_id[rows] == PEDESTRIAN)
        dont_care = np.isin(gt.class_id[rows], DISTRACTOR_CLASSES) | (counted & (gt.visibility[rows] < min_visibility))
        keep = np.ones(len(boxes), dtype=bool)
        if len(boxes) and dont_care.any():
            rows_matched, columns = _match(boxes.xyxy, gt_xyxy)
            keep[rows_matched[dont_care[columns]]] = False
        evaluated = counted & ~dont_care
        track_ids = boxes.track_id if boxes.track_id is not None else np.full(len(boxes), -1)
        frames.append(
            Frame(
                gt_xyxy[evaluated],
                gt.track_id[rows][evaluated],
                boxes.xyxy[keep],
                track_ids[keep],
                boxes.confidence[keep],
            )
        )
    return frames


def _match(predicted: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matches at IoU >= 0.5 maximising the total IoU: (predicted rows, truth columns)."""
    pairs = match_boxes(predicted, truth, IOU)
    return pairs.first, pairs.second


def detection_scores(frames: Sequence[Frame], threshold: float = 0.0) -> DetectionScores:
    """Precision, recall and F1 of the boxes at `threshold` or above; AP50 over all their confidences."""
    tp = fp = fn = 0
    for frame in frames:
        sure = frame.confidence >= threshold
        rows, _ = _match(frame.xyxy[sure], frame.gt_xyxy)
        tp += len(rows)
        fp += int(sure.sum()) - len(rows)
        fn += len(frame.gt_xyxy) - len(rows)
    return DetectionScores(Metrics(tp, fp, fn, len(frames)), ap50(frames))


def ap50(frames: Sequence[Frame]) -> float | None:
    """COCO average precision at IoU 0.5 (pycocotools: greedy matching by confidence, 101 recall points); None
    without ground truth."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images = [{"id": index + 1} for index in range(len(frames))]
    truth: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    for image, frame in zip(images, frames, strict=True):
        for box in frame.gt_xyxy:
            x1, y1, x2, y2 = (float(value) for value in box)
            width, height = x2 - x1, y2 - y1
            truth.append(
                {
                    "id": len(truth) + 1,
                    "image_id": image["id"],
                    "category_id": 1,
                    "bbox": [x1, y1, width, height],
                    "area": width * height,
                    "iscrowd": 0,
                }
            )
        for box, score in zip(frame.xyxy, frame.confidence, strict=True):
            x1, y1, x2, y2 = (float(value) for value in box)
            found.append(
                {"image_id": image["id"], "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)}
            )
    if not truth:
        return None
    if not found:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        reference = COCO()
        reference.dataset = {"images": images, "annotations": truth, "categories": [{"id": 1, "name": "object"}]}
        reference.createIndex()
        evaluation = COCOeval(reference, reference.loadRes(found), "bbox")
        evaluation.params.iouThrs = np.array([IOU])
        evaluation.params.maxDets = [max(100, max(len(frame.xyxy) for frame in frames))]
        evaluation.params.areaRng = [[0.0, 1e12]]
        evaluation.params.areaRngLbl = ["all"]
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][0, :, 0, 0, 0]
    return float(np.mean(np.maximum(precision, 0.0)))


def frame_error_counts(frames: Sequence[Frame], threshold: float = 0.0) -> np.ndarray:
    """Per frame: the errors of the boxes at `threshold` or above, objects missed plus boxes on nothing (IoU 0.5)."""
    errors = np.zeros(len(frames), dtype=np.int64)
    for index, frame in enumerate(frames):
        sure = frame.xyxy[frame.confidence >= threshold]
        rows, _ = _match(sure, frame.gt_xyxy)
        errors[index] = len(sure) + len(frame.gt_xyxy) - 2 * len(rows)
    return errors


def concatenate(sequences: Sequence[Sequence[Frame]]) -> list[Frame]:
    """The frames of several sequences as one, each sequence's track ids (truth and boxes) moved apart so that no
    id of one sequence meets an id of another."""
    out: list[Frame] = []
    for position, frames in enumerate(sequences):
        offset = position * ID_STRIDE
        out += [
            Frame(f.gt_xyxy, f.gt_ids + offset, f.xyxy, np.where(f.ids < 0, f.ids, f.ids + offset), f.confidence)
            for f in frames
        ]
    return out


def tracking_scores(frames: Sequence[Frame]) -> TrackingScores:
    """HOTA, CLEAR (MOTA, MOTP, ID switches) and identity (IDF1) metrics of TrackEval on the tracks."""
    from trackeval.metrics import CLEAR, HOTA, Identity

    gt_ids = _contiguous([frame.gt_ids for frame in frames])
    tracker_ids = _contiguous([frame.ids for frame in frames])
    data = {
        "num_timesteps": len(frames),
        "num_gt_ids": len({int(i) for ids in gt_ids for i in ids}),
        "num_tracker_ids": len({int(i) for ids in tracker_ids for i in ids}),
        "num_gt_dets": sum(len(ids) for ids in gt_ids),
        "num_tracker_dets": sum(len(ids) for ids in tracker_ids),
        "gt_ids": gt_ids,
        "tracker_ids": tracker_ids,
        "similarity_scores": [box_iou(frame.gt_xyxy, frame.xyxy).astype(np.float64) for frame in frames],
    }
    quiet = {"PRINT_CONFIG": False}
    hota = HOTA(quiet).eval_sequence(data)
    clear = CLEAR(quiet).eval_sequence(data)
    identity = Identity(quiet).eval_sequence(data)
    return TrackingScores(
        hota=float(np.mean(hota["HOTA"])),
        deta=float(np.mean(hota["DetA"])),
        assa=float(np.mean(hota["AssA"])),
        mota=float(clear["MOTA"]),
        motp=float(clear["MOTP"]),
        idf1=float(identity["IDF1"]),
        id_switches=int(clear["IDSW"]),
    )


def _contiguous(per_frame: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Ids renumbered 0..n-1 (TrackEval indexes arrays with them)."""
    known = np.unique(np.concatenate([np.asarray(ids, dtype=np.int64) for ids in per_frame] or [np.zeros(0, np.int64)]))
    lookup = {int(value): index for index, value in enumerate(known)}
    return [np.array([lookup[int(i)] for i in ids], dtype=np.int64) for ids in per_frame]
