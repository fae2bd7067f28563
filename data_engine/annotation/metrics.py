"""Review metrics: annotator throughput and how much the humans changed the autolabels.

Throughput: per annotator and per day (UTC day of the last update), images reviewed and mean `lead_time`.
Changes: reviewed boxes are matched one-to-one to the pre-annotations by IoU (Hungarian assignment, a pair counts
as the same object from IoU 0.5); per frame we count boxes added, deleted, moved (matched but IoU below 0.9) and
class changed. Per trigger type the share of frames the humans changed is the trigger's yield: how often frames
that trigger selects were worth a human's time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from data_engine.annotation.base import ReviewedFrame
from data_engine.attributes import add_attributes
from data_engine.detections import Detections, match_boxes
from data_engine.plots import reviews_per_day_png

SAME_OBJECT_IOU = 0.5
MOVED_IOU = 0.9
NO_TRIGGER = "(none)"


@dataclass(frozen=True, slots=True)
class FrameChanges:
    """What a human changed in one frame's autolabels."""

    boxes_before: int
    boxes_after: int
    added: int
    deleted: int
    moved: int
    class_changed: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.deleted or self.moved or self.class_changed)


def frame_changes(before: Detections, after: Detections) -> FrameChanges:
    """Changes from the pre-annotations `before` to the reviewed boxes `after`."""
    matched = match_boxes(before.xyxy, after.xyxy, SAME_OBJECT_IOU)
    return FrameChanges(
        boxes_before=len(before),
        boxes_after=len(after),
        added=len(after) - len(matched),
        deleted=len(before) - len(matched),
        moved=int(np.sum(matched.iou < MOVED_IOU)),
        class_changed=int(np.sum(before.class_id[matched.first] != after.class_id[matched.second])),
    )


@dataclass(slots=True)
class ChangeSummary:
    """Changes summed over frames; `changed_frames / frames` is the yield."""

    frames: int = 0
    changed_frames: int = 0
    boxes_before: int = 0
    boxes_after: int = 0
    added: int = 0
    deleted: int = 0
    moved: int = 0
    class_changed: int = 0

    def add(self, changes: FrameChanges) -> None:
        self.frames += 1
        self.changed_frames += int(changes.changed)
        add_attributes(self, changes, "boxes_before", "boxes_after", "added", "deleted", "moved", "class_changed")

    @property
    def yield_rate(self) -> float:
        return self.changed_frames / self.frames if self.frames else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "yield": round(self.yield_rate, 4)}


@dataclass(frozen=True, slots=True)
class AnnotatorDay:
    annotator: str
    day: str
    images: int
    mean_lead_time_s: float | None


@dataclass(frozen=True)
class ReviewMetrics:
    """Throughput per annotator and day, changes overall and per trigger. Frames pushed without
    pre-annotations (cold start) count for throughput only."""

    per_annotator_day: tuple[AnnotatorDay, ...]
    overall: ChangeSummary
    per_trigger: dict[str, ChangeSummary] = field(default_factory=dict)
    cold_start_frames: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "per_annotator_day": [asdict(row) for row in self.per_annotator_day],
            "overall": self.overall.to_json(),
            "per_trigger": {name: summary.to_json() for name, summary in sorted(self.per_trigger.items())},
            "cold_start_frames": self.cold_start_frames,
        }

    def markdown(self) -> str:
        """Two small tables for asset metadata: throughput per annotator and day, changes per trigger."""
        lines = ["| annotator | day | images | mean lead time s |", "| --- | --- | --- | --- |"]
        for row in self.per_annotator_day:
            lead = "" if row.mean_lead_time_s is None else f"{row.mean_lead_time_s:.1f}"
            lines.append(f"| {row.annotator} | {row.day} | {row.images} | {lead} |")
        lines += [
            "",
            "| trigger | frames | changed | yield | added | deleted | moved | class changed |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, summary in [*sorted(self.per_trigger.items()), ("all", self.overall)]:
            lines.append(
                f"| {name} | {summary.frames} | {summary.changed_frames} | {summary.yield_rate:.2f} | "
                f"{summary.added} | {summary.deleted} | {summary.moved} | {summary.class_changed} |"
            )
        lines += [
            "",
            f"cold-start frames (reviewed without pre-annotations, not in the change counts): {self.cold_start_frames}",
        ]
        return "\n".join(lines)


def review_metrics(frames: Iterable[ReviewedFrame]) -> ReviewMetrics:
    """Metrics of reviewed frames (from a pull or a bundle import)."""
    throughput: dict[tuple[str, str], list[float | None]] = {}
    overall = ChangeSummary()
    per_trigger: dict[str, ChangeSummary] = {}
    cold = 0
    for reviewed in frames:
        day = (reviewed.updated_at or reviewed.created_at)[:10] or "unknown"
        throughput.setdefault((reviewed.annotator, day), []).append(reviewed.lead_time_s)
        if reviewed.pre_annotations is None:
            cold += 1
            continue
        changes = frame_changes(reviewed.pre_annotations, reviewed.detections)
        overall.add(changes)
        for trigger in dict.fromkeys(reviewed.reasons) or (NO_TRIGGER,):  # a frame counts once per trigger
            per_trigger.setdefault(trigger, ChangeSummary()).add(changes)
    rows = tuple(
        AnnotatorDay(annotator, day, len(times), _mean([t for t in times if t is not None]))
        for (annotator, day), times in sorted(throughput.items())
    )
    return ReviewMetrics(rows, overall, per_trigger, cold)


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 3) if values else None


def plot_per_day(metrics: ReviewMetrics, path: str) -> str:
    """A bar chart of images reviewed per day and annotator (PNG at `path`), for asset metadata."""
    return str(reviews_per_day_png(path, {(row.annotator, row.day): row.images for row in metrics.per_annotator_day}))
