"""Training detectors with Ultralytics."""

from data_engine.training.train import TrainingError, train_detector

__all__ = ["TrainingError", "train_detector"]
