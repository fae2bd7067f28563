"""Review metrics on hand-made reviews, the run record, selections, and review label versions on a cold start."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_engine.annotation import (
    AnnotationError,
    AnnotationRun,
    FrameToReview,
    ReviewedFrame,
    ReviewRequest,
    RunFrame,
    frame_changes,
    plot_per_day,
    review_metrics,
    store_reviewed_labels,
)
from data_engine.autolabel.labels import read_latest_labels
from data_engine.detections import Detections
from tests.data_engine.annotation.conftest import NAMES


def boxes(*rows: tuple[float, float, float, float, int]) -> Detections:
    if not rows:
        return Detections.empty(NAMES)
    table = np.array(rows, dtype=np.float64)
    return Detections(table[:, :4], np.ones(len(rows)), table[:, 4].astype(int), names=NAMES)


BEFORE = boxes((10, 10, 50, 50, 0), (100, 100, 140, 160, 1), (200, 20, 240, 60, 0))


def test_frame_changes_counts_each_kind_of_edit() -> None:
    after = boxes(
        (10, 10, 50, 50, 0),  # kept
        (108, 104, 148, 164, 0),  # moved (IoU ~0.7) and relabelled
        (250, 120, 290, 170, 1),  # added; the third box was deleted
    )
    changes = frame_changes(BEFORE, after)
    assert (changes.added, changes.deleted, changes.moved, changes.class_changed) == (1, 1, 1, 1)
    assert changes.changed
    unchanged = frame_changes(BEFORE, BEFORE)
    assert not unchanged.changed and unchanged.boxes_before == unchanged.boxes_after == 3
    assert frame_changes(boxes(), BEFORE).added == 3 and frame_changes(BEFORE, boxes()).deleted == 3
    slightly = boxes((11, 10, 51, 50, 0), (100, 100, 140, 160, 1), (200, 20, 240, 60, 0))
    assert not frame_changes(BEFORE, slightly).changed  # IoU 0.95: not moved


def reviewed(frame: int, after: Detections, annotator: str, day: str, lead: float | None, reasons, pre=BEFORE):
    return ReviewedFrame("clip/0", frame, after, pre, annotator, f"{day}T09:00:00Z", f"{day}T09:01:00Z", lead, reasons)


def test_review_metrics_per_annotator_day_and_trigger_yield(tmp_path: Path) -> None:
    frames = [
        reviewed(0, BEFORE, "anna", "2026-03-01", 10.0, ("flicker",)),
        reviewed(1, BEFORE[:2], "anna", "2026-03-01", 20.0, ("flicker", "cut")),
        reviewed(2, BEFORE, "ben", "2026-03-01", None, ("cut",)),
        reviewed(3, BEFORE, "anna", "2026-03-02", 4.0, ()),
        reviewed(4, BEFORE, "ben", "2026-03-02", 6.0, ("cut",), pre=None),
    ]
    metrics = review_metrics(frames)

    rows = {(row.annotator, row.day): (row.images, row.mean_lead_time_s) for row in metrics.per_annotator_day}
    assert rows == {
        ("anna", "2026-03-01"): (2, 15.0),
        ("anna", "2026-03-02"): (1, 4.0),
        ("ben", "2026-03-01"): (1, None),
        ("ben", "2026-03-02"): (1, 6.0),
    }
    assert metrics.cold_start_frames == 1
    assert (metrics.overall.frames, metrics.overall.changed_frames, metrics.overall.deleted) == (4, 1, 1)
    assert metrics.per_trigger["flicker"].yield_rate == 0.5
    assert metrics.per_trigger["cut"].yield_rate == 0.5
    assert metrics.per_trigger["(none)"].frames == 1
    assert json.loads(json.dumps(metrics.to_json()))["per_trigger"]["flicker"]["yield"] == 0.5
    assert "| anna | 2026-03-01 | 2 | 15.0 |" in metrics.markdown()
    plot = plot_per_day(metrics, str(tmp_path / "per_day.png"))
    assert Path(plot).read_bytes()[:4] == b"\x89PNG"


def test_run_record_round_trips_and_rejects_garbage() -> None:
    run = AnnotationRun(
        "r1",
        "labelstudio",
        "3",
        "http://x/projects/3/data",
        NAMES,
        (RunFrame("clip/0", 5, "k", 320, 180, 11, ("cut",)),),
        "2026-03-01T00:00:00+00:00",
        "m1",
    )
    assert AnnotationRun.from_json(json.loads(run.dumps())) == run
    with pytest.raises(AnnotationError, match="not a data-engine/annotation-run"):
        AnnotationRun.from_json({"schema": "other"})
    with pytest.raises(AnnotationError, match="malformed"):
        AnnotationRun.from_json({**run.to_json(), "frames": [[1, 2]]})


def test_review_request_rejects_bad_input() -> None:
    image = np.zeros((180, 320, 3), np.uint8)
    with pytest.raises(AnnotationError, match="exactly one of image_path, image"):
        FrameToReview("clip/0", 0, 320, 180)
    frame = FrameToReview("clip/0", 0, 320, 180, image=image)
    with pytest.raises(AnnotationError, match="same"):
        ReviewRequest((frame, frame), NAMES)
    with pytest.raises(AnnotationError, match="label schema"):
        ReviewRequest((frame,), {})
    unknown = FrameToReview("clip/0", 1, 320, 180, image=image, pre_annotations=boxes((1, 1, 5, 5, 4)))
    with pytest.raises(AnnotationError, match="class ids"):
        ReviewRequest((unknown,), NAMES)


def test_review_on_a_cold_start_clip_needs_its_size_then_writes_version_one(tmp_path: Path) -> None:
    frames = [reviewed(2, BEFORE, "anna", "2026-03-01", 3.0, (), pre=None)]
    with pytest.raises(AnnotationError, match="no label file yet"):
        store_reviewed_labels(frames, lambda clip: tmp_path / "c", NAMES, "r1")

    written = store_reviewed_labels(frames, lambda clip: tmp_path / "c", NAMES, "r1", {"clip/0": (5, 320, 180)})

    labels = read_latest_labels(tmp_path / "c")
    assert written["clip/0"].path.name == "v0001.json" and written["clip/0"].created and labels.kind == "review"
    assert len(labels.frames[2]) == 3 and all(len(labels.frames[i]) == 0 for i in (0, 1, 3, 4))
    with pytest.raises(AnnotationError, match="reviewed frame 9"):
        store_reviewed_labels(
            [reviewed(9, BEFORE, "anna", "2026-03-01", 3.0, ())], lambda c: tmp_path / "c", NAMES, "r2"
        )
