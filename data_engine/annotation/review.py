"""Reviewed labels into the clip's label files: a new "review" version per clip, earlier versions kept.

The new version starts from the clip's latest labels (the autolabels, or an earlier review) and replaces the
reviewed frames by what the humans left; its `stats` say which frames were reviewed, by whom, when and how long
it took. Storing the same review twice writes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from data_engine.annotation.base import AnnotationError, ReviewedFrame, now_iso
from data_engine.autolabel.labels import LabelFile, read_latest_labels, write_next_labels
from data_engine.detections import Detections


def store_reviewed_labels(
    frames: Iterable[ReviewedFrame],
    clip_dir: Callable[[str], Path],
    names: Mapping[int, str],
    run_id: str,
    frame_counts: Mapping[str, tuple[int, int, int]] | None = None,
) -> dict[str, Path]:
    """Write one review version per clip that has reviewed frames; returns clip id -> the file written (clips
    whose latest version already holds exactly this review are left alone and not listed).

    `clip_dir(clip_id)` is where the clip's `labels/` folder lives. A clip without label files (a cold start)
    needs its (frame count, width, height) in `frame_counts`."""
    by_clip: dict[str, list[ReviewedFrame]] = {}
    for reviewed in frames:
        by_clip.setdefault(reviewed.clip_id, []).append(reviewed)
    written: dict[str, Path] = {}
    for clip_id, reviewed in sorted(by_clip.items()):
        directory = clip_dir(clip_id)
        base = read_latest_labels(directory) or _empty_labels(clip_id, names, (frame_counts or {}).get(clip_id))
        if dict(base.names) != dict(names):
            raise AnnotationError(
                f"clip {clip_id}: its labels use classes {base.names}, the review {dict(names)}; map them first"
            )
        records = {
            str(r.frame): {
                "annotation": r.annotation_id,
                "annotator": r.annotator,
                "created_at": r.created_at,
                "updated_at": r.updated_at,
                "lead_time_s": r.lead_time_s,
            }
            for r in reviewed
        }
        previous = base.stats.get("review", {}).get("frames", {}) if base.kind == "review" else {}
        if all(previous.get(frame) == record for frame, record in records.items()):
            continue
        boxes = list(base.frames)
        for r in reviewed:
            if not 0 <= r.frame < base.frame_count:
                raise AnnotationError(
                    f"clip {clip_id} has {base.frame_count} frames; reviewed frame {r.frame} is not one"
                )
            boxes[r.frame] = r.detections.with_names(base.names)
        stats = {"review": {"run_id": run_id, "frames": {**previous, **records}, "based_on": base.version}}
        labels = replace(base, kind="review", frames=tuple(boxes), stats=stats, created_at=now_iso())
        written[clip_id] = write_next_labels(directory, labels)
    return written


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
