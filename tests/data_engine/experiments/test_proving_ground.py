"""A tiny run of the measured loop: one round, a small budget, two epochs; both strategies must yield a number."""

import math
from pathlib import Path

import pytest

import tests.model_fixtures  # noqa: F401  (sets YOLO_OFFLINE and a private Ultralytics config folder)
from data_engine.experiments.proving_ground import ProvingGroundConfig, ProvingGroundError, run_proving_ground

TINY = ProvingGroundConfig(
    video_seconds=2.0,
    clip_seconds=1.0,
    seed_videos=2,
    seed_every=5,
    test_videos=1,
    pool_videos=2,
    seed_epochs=2,
    epochs=2,
)


def test_a_tiny_loop_reports_both_strategies_per_round(tmp_path: Path) -> None:
    messages: list[str] = []
    report = run_proving_ground(tmp_path, rounds=1, budget=6, seed=3, progress=messages.append, config=TINY)

    for strategy in ("mining", "random"):
        curve = report.curve(strategy)
        assert [r.round for r in curve] == [0, 1]
        assert all(math.isfinite(r.map50_95) and 0.0 <= r.map50_95 <= 1.0 for r in curve)
        assert curve[1].weights.is_file()
    mining, randomly = report.curve("mining")[1], report.curve("random")[1]
    assert mining.labels == randomly.labels and 0 < mining.labels <= 6
    assert report.test_images > 0 and report.seed_labels > 0
    table = report.table()
    assert "mining mAP50-95" in table and "random mAP50-95" in table
    assert "labels to reach random's final mAP50-95" in table
    plot = report.write_plot(tmp_path / "curves.png")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("round 1" in message for message in messages)


def test_a_zero_budget_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ProvingGroundError, match="budget"):
        run_proving_ground(tmp_path, rounds=1, budget=0)
    assert not any(tmp_path.iterdir())
