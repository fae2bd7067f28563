"""Session fixtures: a proving-ground dataset and tiny detectors trained on it by the test session itself.

The detectors are WEAK on purpose (about a minute of CPU training each): weak models flicker, miss and misclassify,
which is exactly what hindsight autolabelling has to repair. The recipes are plain functions so that benchmarks can
reuse them."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="data-engine-yolo-"))

from data_engine.synthetic import SyntheticVideo, build_yolo_dataset, generate
from data_engine.training import train_detector
from data_engine.training.tiny import tiny_model_yaml

TRAIN_SEEDS = (101, 102)
VAL_SEEDS = (103,)
TINY_IMGSZ = 160


@dataclass(frozen=True)
class ProvingGround:
    """Training videos, validation videos and the YOLO dataset cut from them."""

    train: tuple[SyntheticVideo, ...]
    val: tuple[SyntheticVideo, ...]
    data_yaml: Path


def make_proving_ground(out_dir: Path) -> ProvingGround:
    """Three 10 s proving-ground videos; every 5th frame of two of them for training, of the third for validation."""
    train = tuple(generate(out_dir / "videos", seed=seed) for seed in TRAIN_SEEDS)
    val = tuple(generate(out_dir / "videos", seed=seed) for seed in VAL_SEEDS)
    data_yaml = build_yolo_dataset(out_dir / "dataset", train=train, val=val, every=5)
    return ProvingGround(train, val, data_yaml)


def train_tiny_detector(data_yaml: Path, out_dir: Path, seed: int = 0, epochs: int = 30) -> Path:
    """The tiny architecture from scratch at 160 px: small batches and AdamW with a short warm-up, so that it
    learns something within a minute."""
    return train_detector(
        data_yaml,
        out_dir,
        model=tiny_model_yaml(out_dir),
        epochs=epochs,
        imgsz=TINY_IMGSZ,
        batch=8,
        seed=seed,
        optimizer="AdamW",
        lr0=0.004,
        warmup_epochs=1,
    )


@pytest.fixture(scope="session")
def proving_ground(tmp_path_factory: pytest.TempPathFactory) -> ProvingGround:
    return make_proving_ground(tmp_path_factory.mktemp("proving_ground"))


@pytest.fixture(scope="session")
def tiny_detector_weights(proving_ground: ProvingGround, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """best.pt of the tiny detector (seed 1, 20 epochs): sees both classes, flickers."""
    return train_tiny_detector(proving_ground.data_yaml, tmp_path_factory.mktemp("tiny_detector"), seed=1, epochs=20)


@pytest.fixture(scope="session")
def second_tiny_detector_weights(proving_ground: ProvingGround, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A differently trained tiny detector (seed 0, 30 epochs): it disagrees with the first (it hardly ever finds
    a person), for fusion tests."""
    return train_tiny_detector(proving_ground.data_yaml, tmp_path_factory.mktemp("tiny_detector_2"))
