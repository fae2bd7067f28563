"""Labels against proving-ground truth: precision, recall and F1 at an IoU threshold, class-aware.

Objects less than `min_visibility` visible (occluded, leaving the frame) are "don't care": a box on them is neither
a hit nor a false alarm, and missing them is no miss. Look-alike distractors are not objects: boxes on them are
false alarms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from data_engine.detections import Detections, match_boxes

if TYPE_CHECKING:  # the synthetic package pulls the video generator; evaluation only needs the type
    from data_engine.synthetic.truth import GroundTruth


@dataclass(frozen=True, slots=True)
class Metrics:
    """Counts and rates over all evaluated frames."""

    true_positives: int
    false_positives: int
    false_negatives: int
    frames: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        present = self.true_positives + self.false_negatives
        return self.true_positives / present if present else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def __add__(self, other: Metrics) -> Metrics:
        """Pooled counts of two evaluations (several clips)."""
        return Metrics(
            self.true_positives + other.true_positives,
            self.false_positives + other.false_positives,
            self.false_negatives + other.false_negatives,
            self.frames + other.frames,
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.true_positives,
            "fp": self.false_positives,
            "fn": self.false_negatives,
            "frames": self.frames,
        }


def evaluate(
    pred_frames: Sequence[Detections | None],
    truth: GroundTruth,
    iou_threshold: float = 0.5,
    min_visibility: float = 0.5,
    frames: Sequence[int] | None = None,
) -> Metrics:
    """Match predictions to truth frame by frame (optimal assignment, same class, IoU >= threshold).
    `frames` restricts the evaluation (e.g. to event frames); None frames count as frames without boxes."""
    selected = range(min(len(pred_frames), truth.frame_count)) if frames is None else frames
    tp = fp = fn = 0
    for frame in selected:
        predicted = pred_frames[frame] or Detections.empty(truth.names)
        present, visibility = _all_objects(truth, frame)
        required = visibility >= min_visibility
        hits, matched_rows = _match(predicted, present, iou_threshold)
        tp += int(np.sum(required[hits]))
        fn += int(np.sum(required)) - int(np.sum(required[hits]))
        fp += len(predicted) - len(matched_rows)
    return Metrics(tp, fp, fn, len(selected))


def _all_objects(truth: GroundTruth, frame: int) -> tuple[Detections, np.ndarray]:
    """Every object of the frame, hidden ones included (they are "don't care", not background)."""
    boxes = truth.frames[frame]
    if not boxes:
        return Detections.empty(truth.names), np.zeros(0, dtype=np.float32)
    detections = Detections(
        xyxy=np.array([box.xyxy for box in boxes]),
        confidence=np.ones(len(boxes)),
        class_id=np.array([box.class_id for box in boxes]),
        names=truth.names,
    )
    return detections, np.array([box.visibility for box in boxes], dtype=np.float32)


def _match(predicted: Detections, present: Detections, iou_threshold: float) -> tuple[np.ndarray, list[int]]:
    """Indices of matched truth boxes and of the predictions matched to them."""
    matched = match_boxes(predicted.xyxy, present.xyxy, iou_threshold, predicted.class_id, present.class_id)
    return matched.second, matched.first.tolist()
