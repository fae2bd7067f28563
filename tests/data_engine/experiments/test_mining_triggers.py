"""Precision and recall of the image-level triggers on proving-ground videos (real generation, encoding, decoding)."""

import math

import pytest

from data_engine.experiments.mining_triggers import (
    TriggerEvaluation,
    combine,
    evaluate_hits,
    evaluate_proving_ground,
    format_table,
)
from data_engine.mining.triggers import Hit
from data_engine.synthetic import Event

SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="session")
def proving_ground(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TriggerEvaluation]:
    return evaluate_proving_ground(SEEDS, tmp_path_factory.mktemp("proving_ground"), seconds=20.0)


def test_flicker_is_found_with_high_precision_and_recall(proving_ground: dict[str, TriggerEvaluation]) -> None:
    flicker = proving_ground["flicker"]
    assert flicker.events >= 12
    assert flicker.recall >= 0.9
    assert flicker.precision >= 0.8


def test_static_stretches_are_found_as_frozen(proving_ground: dict[str, TriggerEvaluation]) -> None:
    frozen = proving_ground["frozen"]
    assert frozen.events >= 4
    assert frozen.recall >= 0.9 and frozen.precision >= 0.8


def test_no_cuts_or_glitches_on_videos_that_have_none(proving_ground: dict[str, TriggerEvaluation]) -> None:
    assert proving_ground["cut"].hits == 0
    assert proving_ground["glitch"].hits == 0
    assert "| flicker | flicker |" in format_table(proving_ground)


def test_a_hit_counts_when_it_overlaps_an_event_of_its_type() -> None:
    events = [Event("flicker", 10, 12), Event("flicker", 50, 52), Event("static", 10, 30)]
    hits = [Hit("flicker", 12, 14, 1.0), Hit("flicker", 30, 31, 1.0), Hit("frozen", 40, 60, 1.0)]
    scores = evaluate_hits(hits, events, seconds=4.0, triggers=["flicker", "frozen", "cut"])
    flicker, frozen, cut = scores["flicker"], scores["frozen"], scores["cut"]
    assert (flicker.hits, flicker.correct_hits, flicker.events, flicker.found_events) == (2, 1, 2, 1)
    assert flicker.precision == 0.5 and flicker.recall == 0.5
    assert flicker.false_hits_per_minute == 15.0
    assert (frozen.correct_hits, frozen.found_events) == (0, 0)
    assert cut.event_type is None and math.isnan(cut.precision) and math.isnan(cut.recall)


def test_evaluations_of_several_videos_add_up() -> None:
    first = evaluate_hits([Hit("flicker", 1, 1, 1.0)], [Event("flicker", 1, 2)], 10.0, ["flicker"])
    second = evaluate_hits([], [Event("flicker", 5, 6)], 10.0, ["flicker"])
    total = combine([first, second])["flicker"]
    assert (total.hits, total.correct_hits, total.events, total.found_events, total.seconds) == (1, 1, 2, 1, 20.0)


def test_the_cli_scores_the_triggers_without_its_own_entry_point(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    import data_engine.experiments.mining_triggers as module
    from data_engine.cli import main

    assert not hasattr(module, "main"), "no second argparse CLI: `data-engine proving-ground --triggers` runs it"
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATA_ENGINE_DETECTORS", raising=False)
    arguments = ["proving-ground", "--triggers", "--seeds", "1", "--seconds", "4", "--out", str(tmp_path / "pg")]
    result = CliRunner().invoke(main, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "| flicker | flicker |" in result.stdout
    assert "no detector configured: model-level triggers not scored" in result.stdout
