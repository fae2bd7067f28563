"""Trigger yield and lift as `data-engine annotation-stats` prints them, after a real loop: a proving-ground video
is ingested, mined and autolabelled by the tiny detector, its bundle answered (the autolabels kept, except a box
added on chosen frames) and imported. The expected figures follow from which frames were changed."""

import json
import os
import time
from pathlib import Path

import pytest

from data_engine.annotation import AnnotationRun, FrameAnswer, answer_bundle
from data_engine.annotation.bundle import MANIFEST_FILE
from data_engine.annotation.metrics import ChangeSummary, review_metrics
from data_engine.catalog import Catalog
from data_engine.detections import Detections
from data_engine.evaluation.trigger_yield import trigger_yields
from data_engine.mining.selection import DIVERSITY_TRIGGER
from data_engine.synthetic import generate
from tests.answers import with_box
from tests.cli import run_cli


def test_yield_and_lift_from_review_metrics() -> None:
    metrics = review_metrics(())
    metrics.per_trigger.update(
        {
            "flicker": ChangeSummary(frames=10, changed_frames=6),
            "box_jump": ChangeSummary(frames=4, changed_frames=0),
            DIVERSITY_TRIGGER: ChangeSummary(frames=8, changed_frames=2),
        }
    )
    report = trigger_yields(metrics)
    rows = {row.trigger: row for row in report.triggers}
    assert report.baseline == 0.25 and report.baseline_frames == 8 and set(rows) == {"flicker", "box_jump"}
    assert rows["flicker"].yield_rate == 0.6 and rows["flicker"].lift == pytest.approx(2.4)
    assert rows["box_jump"].lift == 0.0
    blind = trigger_yields(metrics, ChangeSummary(frames=10, changed_frames=0), "nothing changed")
    assert blind.baseline is None and all(row.lift is None for row in blind.triggers)
    assert "| flicker | 10 | 6 | 0.60 | 2.40 |" in report.markdown()


@pytest.mark.slow
def test_annotation_stats_prints_each_triggers_yield_and_lift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_detector_weights: Path
) -> None:
    home = tmp_path / "home"
    for name, value in {
        "HOME": str(home),
        "COMPUTE": "inprocess",
        "DETECTORS": str(tiny_detector_weights),
        "DETECTOR_IMGSZ": "160",
        "CLIP_SECONDS": "2",
        "BUDGET_PER_DAY": "500",
    }.items():
        monkeypatch.setenv(f"DATA_ENGINE_{name}", value)
    monkeypatch.delenv("DATA_ENGINE_CATALOG_URL", raising=False)
    video = generate(tmp_path / "in", seed=21, seconds=8.0).video_path
    os.utime(video, (time.time() - 60, time.time() - 60))
    run_cli("run", str(video))
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    (record,) = catalog.annotation_runs()
    catalog.dispose()
    run = AnnotationRun.from_json(record.record)
    reasons = [set(frame.reasons) for frame in run.frames]
    triggers = sorted({name for found in reasons for name in found} - {DIVERSITY_TRIGGER})
    assert triggers and any(found == {DIVERSITY_TRIGGER} for found in reasons), "needs trigger and diversity frames"
    target = max(triggers, key=lambda name: sum(name in found for found in reasons))

    bundle = Path(record.project)
    pre = {
        frame["key"]: frame["pre_annotations"] or []
        for frame in json.loads((bundle / MANIFEST_FILE).read_text())["frames"]
    }
    person = {name: class_id for class_id, name in run.names.items()}["person"]
    answers = {}
    changed: set[str] = set()
    blind_seen = 0
    for frame in run.frames:
        boxes = Detections.from_dicts(pre[frame.key], run.names)
        blind = set(frame.reasons) == {DIVERSITY_TRIGGER}
        if target in frame.reasons or (blind and blind_seen % 2 == 0):
            boxes = with_box(boxes, person, [2, 2, 30, 60])
            changed.add(frame.key)
        blind_seen += blind
        answers[(frame.clip_id, frame.frame)] = FrameAnswer(boxes, annotator="ann")
    run_cli("import-annotations", str(answer_bundle(run, answers)))

    def expected(name: str) -> tuple[int, int]:
        keys = [frame.key for frame in run.frames if name in frame.reasons]
        return len(keys), sum(key in changed for key in keys)

    blind_frames, blind_changed = expected(DIVERSITY_TRIGGER)
    baseline = blind_changed / blind_frames
    stats = json.loads(run_cli("annotation-stats", "--json"))["trigger_yield"]
    assert stats["baseline"] == {
        "yield": round(baseline, 4),
        "frames": blind_frames,
        "source": stats["baseline"]["source"],
    }
    rows = {row["trigger"]: row for row in stats["triggers"]}
    assert set(rows) == set(triggers)
    for name in triggers:
        total, hit = expected(name)
        assert (rows[name]["frames"], rows[name]["changed_frames"]) == (total, hit)
        assert rows[name]["lift"] == pytest.approx(hit / total / baseline, abs=1e-3)
    assert rows[target]["yield"] == 1.0
    printed = run_cli("annotation-stats")
    total, hit = expected(target)
    assert f"| {target} | {total} | {hit} | 1.00 | {1 / baseline:.2f} |" in printed
