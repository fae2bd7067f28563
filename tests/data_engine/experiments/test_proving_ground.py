"""A tiny run of the measured loop through the product's stages: two seeds, one round, a small budget, two epochs;
every strategy yields a curve, the seeds' report has intervals, and a finished seed is reused, not run again."""

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

import tests.model_fixtures  # noqa: F401  (sets YOLO_OFFLINE and a private Ultralytics config folder)
from data_engine.cli import main
from data_engine.detections import Detections
from data_engine.experiments.intervals import bootstrap_interval, t_interval
from data_engine.experiments.proving_ground import (
    STRATEGIES,
    LoopReport,
    ProvingGroundConfig,
    ProvingGroundError,
    RoundResult,
    SeedsReport,
    frame_uncertainty,
    labels_to_reach,
    run_proving_ground,
    run_proving_ground_seeds,
)

TINY = ProvingGroundConfig(
    rounds=1,
    budget=6,
    video_seconds=2.0,
    clip_seconds=1.0,
    hard_share=0.5,
    seed_videos=2,
    seed_every=5,
    test_videos=2,
    pool_videos=2,
    seed_epochs=2,
    epochs=1,
)


@pytest.mark.slow
def test_two_seeds_of_a_tiny_loop_report_every_strategy_with_intervals(tmp_path: Path) -> None:
    messages: list[str] = []
    report = run_proving_ground_seeds(tmp_path, [3, 4], TINY, progress=messages.append)

    assert report.seeds == (3, 4) and len(report.loops) == 2
    for loop in report.loops:
        counts = {strategy: loop.curve(strategy) for strategy in STRATEGIES}
        assert all([r.round for r in curve] == [0, 1] for curve in counts.values())
        labels = {curve[1].labels for curve in counts.values()}
        assert len(labels) == 1 and 0 < labels.pop() <= TINY.budget, "every strategy labels as many frames"
        for curve in counts.values():
            assert all(0.0 <= r.map50_95 <= 1.0 and 0.0 <= r.hard_map50_95 <= 1.0 for r in curve)
            assert Path(curve[1].weights).is_file()
        assert loop.hard_test_images > 0 and loop.reviews["mining"]["all"][0] > 0
    table = report.table()
    for needle in (
        "mining mAP50-95",
        "random rare-case mAP50-95",
        "uncertainty mAP50-95",
        "95 % t-interval",
        "labels mining needs to reach random's final rare-case mAP50-95",
        "goal (",
        "trigger yield",
    ):
        assert needle in table
    assert report.write_plot(tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("round 1" in message for message in messages)

    again: list[str] = []
    reused = run_proving_ground_seeds(tmp_path, [3, 4], TINY, progress=again.append)
    assert again == [f"seed {s}: reusing the finished run in {tmp_path / f'seed-{s}'}" for s in (3, 4)]
    assert reused.loops == report.loops
    assert LoopReport.from_json(json.loads(json.dumps(report.loops[0].to_json()))) == report.loops[0]


def test_bad_settings_are_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ProvingGroundError, match="budget"):
        run_proving_ground(tmp_path, rounds=1, budget=0)
    with pytest.raises(ProvingGroundError, match="strategies must start with mining"):
        ProvingGroundConfig(strategies=("random",))
    assert not any(tmp_path.iterdir())
    result = CliRunner().invoke(main, ["proving-ground", "--seeds", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2 and result.output == "error: --seeds must be at least 1, got 0\n"


def test_intervals_and_label_efficiency() -> None:
    interval = t_interval([0.5, 0.6, 0.7])
    assert interval.mean == pytest.approx(0.6) and interval.low == pytest.approx(0.6 - 0.2484, abs=1e-3)
    assert math.isnan(t_interval([0.5]).low)
    assert labels_to_reach([(0, 0.1), (40, 0.3), (80, 0.5)], 0.4) == 60.0
    assert labels_to_reach([(0, 0.1), (40, 0.3)], 0.4) == math.inf
    values = [1.0, 2.0, 3.0, 4.0]
    boot = bootstrap_interval(values, lambda chosen: sum(chosen) / len(chosen))  # type: ignore[arg-type]
    assert boot.mean == 2.5 and 1.0 <= boot.low < 2.5 < boot.high <= 4.0
    assert frame_uncertainty(Detections.empty()) == 0.0
    found = Detections([[0, 0, 1, 1], [2, 2, 3, 3]], [0.9, 0.45], [0, 0])
    assert frame_uncertainty(found) == pytest.approx(0.9)


def _loop(hard_images: int, mining: list[float], randomly: list[float]) -> LoopReport:
    results = tuple(
        RoundResult(strategy, number, 10 * number, 0, value, value, value, value, 1.0, "ds", "")
        for strategy, curve in (("mining", mining), ("random", randomly), ("uncertainty", randomly))
        for number, value in enumerate(curve)
    )
    return LoopReport(results, 100, 50, hard_images, 1.0, ProvingGroundConfig())


def test_seeds_without_rare_test_frames_are_left_out_and_differences_are_paired() -> None:
    report = SeedsReport(
        (0, 1, 2),
        (_loop(5, [0.2, 0.6], [0.2, 0.4]), _loop(7, [0.5, 0.9], [0.5, 0.7]), _loop(0, [0.3, 0.0], [0.3, 0.0])),
        3.0,
    )
    assert report.interval("mining", 1, "hard_map50_95").n == 2
    assert report.interval("mining", 1, "map50_95").n == 3
    paired = report.paired("mining", "random", 1, "hard_map50_95")
    assert paired.mean == pytest.approx(0.2) and paired.low == pytest.approx(0.2)
    assert report.labels_to_match("hard_map50_95").mean == pytest.approx(5.0)
    assert "rare-case figures over 2 seeds: the test split of seed(s) 2 holds no frame" in report.table()
