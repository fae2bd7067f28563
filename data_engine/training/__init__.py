"""Training detectors with Ultralytics: a plain in-process recipe, and guarded runs with budgets and resume."""

from data_engine.training.run import EpochProgress, TrainingConfig, TrainingResult, run_guarded, run_training
from data_engine.training.train import TrainingError, train_detector

__all__ = [
    "EpochProgress",
    "TrainingConfig",
    "TrainingError",
    "TrainingResult",
    "run_guarded",
    "run_training",
    "train_detector",
]
