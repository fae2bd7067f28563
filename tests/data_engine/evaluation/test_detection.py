"""Evaluation refuses what it cannot measure before loading anything (the metrics themselves are checked on a
trained model in tests/data_engine/registry/test_loop.py)."""

import pytest

from data_engine.datasets import DatasetManifest, DatasetReport, DatasetVersion, ManifestFrame
from data_engine.evaluation import Evaluation, EvaluationError, evaluate_model


def _dataset(tmp_path, split):
    frame = ManifestFrame("c", 0, 1, split, "v", "v", "", f"images/{split}/c_000000.jpg", 0, (), 0)
    manifest = DatasetManifest("ds-0001", 1, {0: "car"}, (frame,), {"v": split})
    return DatasetVersion("ds-0001", tmp_path, manifest, DatasetReport(), created=False)


def test_missing_weights_or_an_empty_split_fail_clearly(tmp_path):
    weights = tmp_path / "model.pt"
    with pytest.raises(EvaluationError, match="do not exist; give the path of a trained model"):
        evaluate_model(weights, _dataset(tmp_path, "test"))
    weights.write_bytes(b"not loaded")
    with pytest.raises(EvaluationError, match="has no images in its test split"):
        evaluate_model(weights, _dataset(tmp_path, "train"))


def test_evaluation_round_trips_through_json():
    evaluation = Evaluation(
        "ds-0001", "test", 3, 0.5, 0.3, {"car": {"map50": 0.5, "map50_95": 0.3}}, {}, ("bus",), 4.2, 160, "cpu"
    )
    assert Evaluation.from_json(evaluation.to_json()) == evaluation
