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
from data_engine.synthetic.dataset import MIN_LABEL_VISIBILITY
from data_engine.synthetic.truth import load_truth

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


@pytest.fixture
def pushed_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A cold-start bundle of one synthetic video, pushed by `data-engine run` with the classes `classes` gives."""
    for name, value in {"HOME": tmp_path / "home", "SETTLE_SECONDS": 0, "COMPUTE": "inprocess"}.items():
        monkeypatch.setenv(f"DATA_ENGINE_{name}", str(value))
    monkeypatch.delenv("DATA_ENGINE_CATALOG_URL", raising=False)
    monkeypatch.delenv("DATA_ENGINE_DETECTORS", raising=False)
    runner = CliRunner()

    def push(classes: str) -> tuple[CliRunner, Path]:
        monkeypatch.setenv("DATA_ENGINE_CLASSES", classes)
        invoke = runner.invoke
        assert invoke(main, ["synth", str(tmp_path / "videos"), "--seed", "5", "--seconds", "2"]).exit_code == 0
        ran = invoke(main, ["run", str(tmp_path / "videos")], catch_exceptions=False)
        assert ran.exit_code == 0, ran.output
        (bundle,) = (tmp_path / "home" / "store" / "annotation" / "bundles").glob("*.zip")
        return runner, bundle

    return push


def test_the_simulated_annotator_answers_a_bundle_by_class_name(pushed_bundle, tmp_path: Path) -> None:
    runner, bundle = pushed_bundle("person,car")  # the truth's class ids are the other way round
    answered = runner.invoke(main, ["proving-ground", "answer", str(bundle)], catch_exceptions=False)
    assert answered.exit_code == 0 and answered.output.startswith("answered "), answered.output
    imported = runner.invoke(main, ["import-annotations", str(bundle.with_suffix(""))], catch_exceptions=False)
    assert imported.exit_code == 0, imported.output
    (clip,) = json.loads(runner.invoke(main, ["clips", "--json"]).output)
    frames = [row["clip_frame"] for row in json.loads(runner.invoke(main, ["selection", "--json"]).output)]
    truth = load_truth(next((tmp_path / "videos").glob("*.truth.json")))
    expected: dict[str, int] = {}
    for frame in frames:
        boxes = truth.boxes_at(clip["first_video_frame"] + frame, min_visibility=MIN_LABEL_VISIBILITY)
        for class_id in boxes.class_id:
            expected[truth.names[int(class_id)]] = expected.get(truth.names[int(class_id)], 0) + 1
    shown = json.loads(runner.invoke(main, ["labels", "show", clip["id"], "--json"]).output)
    assert shown["kind"] == "review" and shown["per_class"] == dict(sorted(expected.items()))


def test_the_simulated_annotator_refuses_what_it_cannot_answer(pushed_bundle, tmp_path: Path) -> None:
    runner, bundle = pushed_bundle("person")
    refused = runner.invoke(main, ["proving-ground", "answer", str(bundle)])
    assert refused.exit_code == 2
    assert refused.output == (
        "error: the bundle's classes (person) lack car of the synthetic videos: push them with "
        "DATA_ENGINE_CLASSES=car,person\n"
    )
    elsewhere = runner.invoke(main, ["proving-ground", "answer", str(tmp_path / "videos")])
    assert elsewhere.exit_code == 2 and "is not a bundle this engine pushed" in elsewhere.output
