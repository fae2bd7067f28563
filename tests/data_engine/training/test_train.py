"""train_detector: a real (tiny) training run offline, and clear errors for what cannot train."""

import pytest
from ultralytics import YOLO

from data_engine.training import TrainingError, train_detector


def test_tiny_training_writes_loadable_weights_with_dataset_classes(tiny_detector_weights):
    assert tiny_detector_weights.name == "best.pt" and tiny_detector_weights.stat().st_size > 0
    model = YOLO(str(tiny_detector_weights))
    assert model.task == "detect" and dict(model.names) == {0: "car", 1: "person"}


def test_missing_dataset_or_weights_fail_before_training(tmp_path, proving_ground):
    with pytest.raises(TrainingError, match="does not exist; build one"):
        train_detector(tmp_path / "nope.yaml", tmp_path)
    with pytest.raises(TrainingError, match="do not exist locally"):
        train_detector(proving_ground.data_yaml, tmp_path, model=tmp_path / "missing.pt")
