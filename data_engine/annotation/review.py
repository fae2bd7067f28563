"""Reviewed labels into the clip's label files: a new "review" version per clip, earlier versions kept.

The new version starts from the clip's latest labels (the autolabels, or an earlier review) and replaces the
reviewed frames by what the humans left; its `stats` say which frames were reviewed, by whom, when and how long
it took, and which version it was based on (so an import can be undone). Storing the same review twice writes
nothing the second time, and says which existing version holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from data_engine.annotation.base import AnnotationError, ReviewedFrame, now_iso
from data_engine.annotation.metrics import MOVED_IOU, SAME_OBJECT_IOU
from data_engine.autolabel.labels import LabelFile, label_versions, read_labels, read_latest_labels, write_next_labels
from data_engine.detections import Detections, match_boxes


@dataclass(frozen=True, slots=True)
class StoredReview:
    """The label version that holds a clip's review: its file, its version, the version it was based on (None for
    a clip that had no labels), how many frames this call reviewed anew (0: the version existed already) and the
    import recorded in the version (`detail["import"]` of the call that wrote it)."""

    path: Path
    version: int
    based_on: int | None
    frames_changed: int = 0
    import_id: str | None = None

    @property
    def created(self) -> bool:
        return self.frames_changed > 0


def store_reviewed_labels(
    frames: Iterable[ReviewedFrame],
    clip_dir: Callable[[str], Path],
    names: Mapping[int, str],
    run_id: str,
    frame_counts: Mapping[str, tuple[int, int, int]] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, StoredReview]:
    """Write one review version per clip that has reviewed frames (unless its latest version already holds exactly
    this review); returns clip id -> the version holding the review. `detail` is recorded in the version's
    review stats (the import id, for instance).

    `clip_dir(clip_id)` is where the clip's `labels/` folder lives. A clip without label files (a cold start)
    needs its (frame count, width, height) in `frame_counts`."""
    by_clip: dict[str, list[ReviewedFrame]] = {}
    for frame in frames:
        by_clip.setdefault(frame.clip_id, []).append(frame)
    stored: dict[str, StoredReview] = {}
    for clip_id, reviewed in sorted(by_clip.items()):
        directory = clip_dir(clip_id)
        latest = read_latest_labels(directory)
        base = latest or _empty_labels(clip_id, names, (frame_counts or {}).get(clip_id))
        if dict(base.names) != dict(names):
            raise AnnotationError(
                f"clip {clip_id}: its labels use classes {base.names}, the review {dict(names)}; map them first"
            )
        records = {str(r.frame): _record(r) for r in reviewed}
        previous = review_records(base)
        changed = [r.frame for r in reviewed if previous.get(str(r.frame)) != records[str(r.frame)] or _moved(base, r)]
        if latest is not None and not changed:
            review = latest.stats.get("review", {})
            stored[clip_id] = StoredReview(
                label_versions(directory)[-1], latest.version, _based_on(latest), 0, review.get("import")
            )
            continue
        boxes = list(base.frames)
        for r in reviewed:
            if not 0 <= r.frame < base.frame_count:
                raise AnnotationError(
                    f"clip {clip_id} has {base.frame_count} frames; reviewed frame {r.frame} is not one"
                )
            boxes[r.frame] = r.detections.with_names(base.names)
        based_on = base.version if latest is not None else None
        stats = {
            "review": {"run_id": run_id, "frames": {**previous, **records}, "based_on": based_on, **(detail or {})}
        }
        labels = replace(base, kind="review", frames=tuple(boxes), stats=stats, created_at=now_iso())
        path = write_next_labels(directory, labels)
        written_by = (detail or {}).get("import")
        stored[clip_id] = StoredReview(path, read_labels(path).version, based_on, len(changed), written_by)
    return stored


def _moved(base: LabelFile, reviewed: ReviewedFrame) -> bool:
    """Whether the reviewed boxes differ from the frame's boxes in `base` (a file edited again, same author)."""
    inside = 0 <= reviewed.frame < base.frame_count
    return not inside or base.frames[reviewed.frame].to_dicts() != reviewed.detections.to_dicts()


def _record(reviewed: ReviewedFrame) -> dict[str, Any]:
    return {
        "annotation": reviewed.annotation_id,
        "annotator": reviewed.annotator,
        "created_at": reviewed.created_at,
        "updated_at": reviewed.updated_at,
        "lead_time_s": reviewed.lead_time_s,
    }


def review_records(labels: LabelFile) -> dict[str, Any]:
    """Frame -> who reviewed it, when, how long: the humans' part of a review version (none for autolabels)."""
    if labels.kind != "review":
        return {}
    return dict(labels.stats.get("review", {}).get("frames", {}))


def _based_on(labels: LabelFile) -> int | None:
    value = labels.stats.get("review", {}).get("based_on")
    return None if value is None else int(value)


def restore_labels(directory: Path, version: int | None, undone: Mapping[str, Any]) -> Path:
    """A new version with the content of `version` (None: no labels at all, every frame empty and unreviewed),
    recorded as a review version whose reviewed frames are exactly those of `version`: what an undo writes, since
    label versions are never deleted. `undone` says what was undone and goes into its stats."""
    latest = read_latest_labels(directory)
    if latest is None:
        raise AnnotationError(f"{directory} holds no label file to restore from")
    if version is None:
        restored = replace(latest, frames=tuple(Detections.empty(latest.names) for _ in latest.frames))
        frames: dict[str, Any] = {}
    else:
        restored = read_labels(directory / "labels" / f"v{version:04d}.json")
        frames = review_records(restored)
    stats = {"review": {"frames": frames, "based_on": version, "restored": dict(undone)}}
    return write_next_labels(directory, replace(restored, kind="review", stats=stats, created_at=now_iso()))


@dataclass(frozen=True, slots=True)
class FrameDiff:
    """What storing a reviewed frame would change in the clip's current labels."""

    clip_id: str
    frame: int
    boxes_before: int
    boxes_after: int
    added: int
    changed: int
    removed: int

    @property
    def becomes_empty(self) -> bool:
        return self.boxes_before > 0 and self.boxes_after == 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "becomes_empty": self.becomes_empty}


def frame_diff(clip_id: str, frame: int, current: Detections, reviewed: Detections) -> FrameDiff:
    """Boxes added, changed (moved, resized or relabelled) and removed by a review against the current labels."""
    matched = match_boxes(current.xyxy, reviewed.xyxy, SAME_OBJECT_IOU)
    relabelled = current.class_id[matched.first] != reviewed.class_id[matched.second]
    changed = int(((matched.iou < MOVED_IOU) | relabelled).sum())
    return FrameDiff(
        clip_id,
        frame,
        len(current),
        len(reviewed),
        added=len(reviewed) - len(matched),
        changed=changed,
        removed=len(current) - len(matched),
    )


def review_diff(frames: Iterable[ReviewedFrame], clip_dir: Callable[[str], Path]) -> list[FrameDiff]:
    """Per reviewed frame, what storing it would change against its clip's current (latest) label version."""
    diffs = []
    latest: dict[str, LabelFile | None] = {}
    for reviewed in sorted(frames, key=lambda f: (f.clip_id, f.frame)):
        if reviewed.clip_id not in latest:
            latest[reviewed.clip_id] = read_latest_labels(clip_dir(reviewed.clip_id))
        labels = latest[reviewed.clip_id]
        inside = labels is not None and 0 <= reviewed.frame < labels.frame_count
        current = labels.frames[reviewed.frame] if labels is not None and inside else Detections.empty()
        diffs.append(frame_diff(reviewed.clip_id, reviewed.frame, current, reviewed.detections))
    return diffs


def _empty_labels(clip_id: str, names: Mapping[int, str], size: tuple[int, int, int] | None) -> LabelFile:
    if size is None:
        raise AnnotationError(
            f"clip {clip_id} has no label file yet; give its (frame count, width, height) to store a review"
        )
    frame_count, width, height = size
    return LabelFile(
        clip_id=clip_id,
        version=0,
        kind="review",
        frame_count=frame_count,
        width=width,
        height=height,
        names=dict(names),
        frames=tuple(Detections.empty(names) for _ in range(frame_count)),
    )
