"""The proving ground: deterministic synthetic videos with exact ground truth, and datasets cut from them."""

from data_engine.synthetic.dataset import build_yolo_dataset
from data_engine.synthetic.generator import (
    CLASS_NAMES,
    HardCases,
    SyntheticError,
    SyntheticVideo,
    available_codec,
    generate,
)
from data_engine.synthetic.truth import (
    HARD_CONDITIONS,
    Event,
    GroundTruth,
    TruthBox,
    TruthError,
    load_truth,
)

__all__ = [
    "CLASS_NAMES",
    "HARD_CONDITIONS",
    "Event",
    "GroundTruth",
    "HardCases",
    "SyntheticError",
    "SyntheticVideo",
    "TruthBox",
    "TruthError",
    "available_codec",
    "build_yolo_dataset",
    "generate",
    "load_truth",
]
