"""Minimal, deterministic, offline detector training with Ultralytics (time budgets, resume and a model registry
come later)."""

from __future__ import annotations

from pathlib import Path

from data_engine.detectors.device import pick_device


class TrainingError(RuntimeError):
    """Training could not start or produced no weights."""


def train_detector(
    data_yaml: str | Path,
    out_dir: str | Path,
    model: str | Path = "yolo11n.yaml",
    epochs: int = 10,
    imgsz: int = 320,
    batch: int = 16,
    device: str | None = None,
    seed: int = 0,
    workers: int = 0,
    **overrides: object,
) -> Path:
    """Train a detector on a YOLO `data.yaml` and return the path of its best weights.

    A `.yaml` model trains from scratch (nothing to download); a `.pt` fine-tunes local weights. Plots are off
    (they would download a font), AMP only on CUDA (its check downloads a model), dataloader workers default to 0
    so that small runs do not pay for process start-up. `overrides` go to `YOLO.train` unchanged."""
    from ultralytics import YOLO

    data_yaml = Path(data_yaml)
    if not data_yaml.is_file():
        raise TrainingError(f"dataset description {data_yaml} does not exist; build one with build_yolo_dataset")
    if str(model).endswith(".pt") and not Path(model).is_file():
        raise TrainingError(f"weights {model} do not exist locally; give a local .pt file or a model .yaml")
    device = device or pick_device()
    out_dir = Path(out_dir).resolve()
    yolo = YOLO(str(model))
    settings: dict[str, object] = {
        "data": str(data_yaml),
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        "device": device,
        "seed": seed,
        "deterministic": True,
        "workers": workers,
        "plots": False,
        "amp": device.startswith("cuda"),
        "project": str(out_dir),
        "name": "train",
        "exist_ok": True,
        "verbose": False,
    }
    yolo.train(**(settings | overrides))
    trainer = yolo.trainer
    if trainer is None:
        raise TrainingError(f"training on {data_yaml} did not start a trainer")
    best = Path(trainer.best)
    if not best.is_file():
        best = Path(trainer.last)
    if not best.is_file():
        raise TrainingError(f"training on {data_yaml} finished without writing weights under {out_dir}")
    return best
