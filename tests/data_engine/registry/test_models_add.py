"""`models add`: weights trained elsewhere are measured at the image size they were trained at (read from the
checkpoint, not DATA_ENGINE_TRAIN_IMGSZ), and the same weights added twice are one model."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from data_engine.cli import main
from data_engine.evaluation.detection import trained_imgsz
from tests.model_fixtures import TINY_IMGSZ


def test_the_training_image_size_is_read_from_the_checkpoint(tiny_detector_weights: Path, tmp_path: Path) -> None:
    assert trained_imgsz(tiny_detector_weights, 640) == TINY_IMGSZ
    not_a_checkpoint = tmp_path / "model.onnx"
    not_a_checkpoint.write_bytes(b"\x08\x07onnx")
    assert trained_imgsz(not_a_checkpoint, 640) == 640


def test_the_same_weights_added_twice_are_one_model(
    tiny_detector_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATA_ENGINE_CATALOG_URL", raising=False)
    runner = CliRunner()
    first = runner.invoke(main, ["models", "add", str(tiny_detector_weights), "--id", "team-model"])
    assert first.exit_code == 0 and "model team-model added from" in first.output, first.output
    copy = tmp_path / "elsewhere" / "best.pt"
    copy.parent.mkdir()
    copy.write_bytes(tiny_detector_weights.read_bytes())
    again = runner.invoke(main, ["models", "add", str(copy), "--promote"])
    assert again.exit_code == 0, again.output
    assert "these weights are already registered as team-model" in again.output and "nothing added" in again.output
    listed = json.loads(runner.invoke(main, ["models", "--json"]).output)
    assert [(row["id"], row["status"]) for row in listed] == [("team-model", "champion")], "--promote still applies"
