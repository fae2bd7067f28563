"""Timeline and batch summary pictures (mining): valid PNGs of the promised size, written atomically, clear errors."""

from pathlib import Path

import pytest
from PIL import Image

from data_engine.mining.triggers import Hit
from data_engine.plots import (
    PlotError,
    batch_summary_png,
    learning_curves_png,
    map_per_model_png,
    reviews_per_day_png,
    timeline_png,
)

HITS = [
    Hit("flicker", 30, 33, 0.9),
    Hit("frozen", 60, 79, 0.5),
    Hit("cut", 100, 100, 1.0),
    Hit("detection_flicker", 120, 122, 0.4),
]


def assert_png(path: Path, size: tuple[int, int]) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size == size
    assert [entry.name for entry in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_clip_timeline_is_a_small_png(tmp_path: Path) -> None:
    path = timeline_png(tmp_path / "clip" / "timeline.png", 150, HITS, [31, 100], title="clip 1", fps=25.0)
    assert_png(path, (900, 220))
    again = timeline_png(path, 150, HITS, triggers=["flicker", "frozen", "cut", "detection_flicker", "box_jump"])
    assert_png(again, (900, 220))


def test_a_clip_without_hits_still_gets_a_timeline(tmp_path: Path) -> None:
    assert_png(timeline_png(tmp_path / "empty.png", 1, []), (900, 220))


def test_batch_summary_is_a_png(tmp_path: Path) -> None:
    path = batch_summary_png(
        tmp_path / "summary.png", {"flicker": 3, "detection_flicker": 40}, {"detection_flicker": 10}, 12000, "batch"
    )
    assert_png(path, (900, 300))
    assert_png(batch_summary_png(tmp_path / "summary.png", {}), (900, 300))


def test_bad_picture_inputs_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(PlotError, match="frame_count"):
        timeline_png(tmp_path / "t.png", 0, [])
    with pytest.raises(PlotError, match="no row"):
        timeline_png(tmp_path / "t.png", 150, HITS, triggers=["flicker"])
    with pytest.raises(PlotError, match="negative"):
        batch_summary_png(tmp_path / "s.png", {"flicker": -1})
    assert not list(tmp_path.iterdir())


def test_review_throughput_model_map_and_learning_curves_are_pngs(tmp_path: Path) -> None:
    per_day = reviews_per_day_png(tmp_path / "a" / "per_day.png", {("anna", "2026-03-01"): 2, ("ben", "2026-03-02"): 1})
    assert_png(per_day, (480, 240))
    models = map_per_model_png(tmp_path / "b" / "map.png", [("m-1", 0.5, 0.3), ("m-2", None, None)])
    assert_png(models, (900, 300))
    panel = {"mining": [(0, 0.1, 0.05, 0.15), (6, 0.2, 0.1, 0.3)], "random": [(0, 0.1, 0.1, 0.1), (6, 0.15, 0.1, 0.2)]}
    curves = learning_curves_png(tmp_path / "c" / "curves.png", {"y": panel}, "x", "t")
    assert_png(curves, (600, 400))
