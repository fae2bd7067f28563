"""The hindsight-disagreement trigger: frames where the model's own boxes and its hindsight labels disagree.

Hindsight (`data_engine.autolabel.hindsight`, the autolabel stage's offline tracking) judges each box knowing the
whole clip: a box it removes is most likely a false positive (a blip, a track too short or unsure), a box it fills
into a track's gap is most likely a miss. Both are the model's temporal inconsistency, seen from the labels a human
would otherwise be handed. A frame's estimated errors are those removed and filled boxes plus the expected count of
boxes whose keep-or-drop decision at the operating threshold is in doubt (`margin_uncertainty`). The clip's frames
are ranked by it and only the best `share` is flagged (`frame_ranking.top_frames`).

Measured on TUD-Campus with YOLOX-Nano through `data-engine evaluate` (bench/README.md "The frames the triggers
find"): the errors per flagged frame over all frames (lift) beat box uncertainty alone, where the former triggers,
which flagged whole stretches, were no better than chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_engine.autolabel.fusion import calibrate
from data_engine.autolabel.hindsight import HindsightParams, apply_hindsight
from data_engine.detections import Detections, match_boxes
from data_engine.mining.features import DEFAULT_DUPLICATE_DISTANCE, FrameFeatures
from data_engine.mining.frame_ranking import frame_hashes, margin_uncertainty, top_frames
from data_engine.mining.triggers import FrameDetections, Hit, HitDetails, PositiveConfig, register_trigger


@dataclass(frozen=True, slots=True)
class HindsightDisagreementConfig(PositiveConfig):
    """`threshold`: the model's operating confidence (raw boxes under it count as not detected; mining passes each
    model's own, `operating_configs`); `iou_match`: least IoU
    for a raw box and a hindsight label to be the same object; `share`: most of the clip's scored frames flagged;
    `min_errors`: least estimated errors for a frame to be flagged; `half_score`: estimated errors that score 0.5
    (score = e / (e + half_score): absolute, so clips compare)."""

    threshold: float = 0.25
    iou_match: float = 0.5
    share: float = 0.1
    min_errors: float = 1.0
    half_score: float = 2.0


@dataclass(frozen=True, slots=True)
class FrameDisagreement:
    """One frame: raw boxes at the threshold that hindsight removed, labels it filled in, boxes in doubt."""

    removed: int
    filled: int
    uncertain: float

    @property
    def errors(self) -> float:
        return self.removed + self.filled + self.uncertain


def disagreements(
    detections: FrameDetections, threshold: float, iou_match: float
) -> tuple[np.ndarray, list[FrameDisagreement]]:
    """The scored frames (sorted) and, for each, how its raw boxes and the hindsight labels disagree."""
    frames = np.array(sorted(int(frame) for frame in detections), dtype=np.int64)
    if not len(frames):
        return frames, []
    stride = int(np.min(np.diff(frames))) if len(frames) > 1 else 1
    per_frame: list[Detections | None] = [None] * (int(frames[-1]) + 1)
    names: dict[int, str] = {}
    extent = np.zeros(2)
    for frame in frames:
        found = detections[int(frame)]
        per_frame[int(frame)] = found
        names.update(found.names)
        if len(found):
            extent = np.maximum(extent, found.xyxy[:, 2:].max(axis=0))
    # The autolabel stage's view: scores on the common scale (the model's own threshold mapped onto it), then hindsight.
    calibrated = [None if found is None else calibrate(found, threshold) for found in per_frame]
    labels, _ = apply_hindsight(calibrated, names, HindsightParams(every=stride), int(extent[0]), int(extent[1]))
    uncertain = margin_uncertainty([detections[int(frame)] for frame in frames], threshold)
    out = []
    for position, frame in enumerate(frames):
        raw = detections[int(frame)].with_min_confidence(threshold)
        label = labels[int(frame)]
        matched = len(match_boxes(raw.xyxy, label.xyxy, iou_match).first) if len(raw) and len(label) else 0
        out.append(FrameDisagreement(len(raw) - matched, len(label) - matched, float(uncertain[position])))
    return frames, out


@register_trigger("hindsight_disagreement", HindsightDisagreementConfig, needs="detections")
def detect_hindsight_disagreement(
    features: FrameFeatures | None, detections: FrameDetections, config: HindsightDisagreementConfig
) -> list[Hit]:
    """One single-frame hit per flagged frame: the clip's frames with the most estimated errors."""
    frames, scored = disagreements(detections, config.threshold, config.iou_match)
    errors = np.array([frame.errors for frame in scored])
    flagged = top_frames(
        frames, errors, config.share, config.min_errors, frame_hashes(features), DEFAULT_DUPLICATE_DISTANCE
    )
    hits = []
    for position in flagged:
        frame, found = int(frames[position]), scored[position]
        details: HitDetails = {
            "removed": found.removed,
            "filled": found.filled,
            "uncertain": round(found.uncertain, 2),
            "estimated_errors": round(found.errors, 2),
        }
        score = found.errors / (found.errors + config.half_score)
        hits.append(Hit("hindsight_disagreement", frame, frame, score, details))
    return hits
