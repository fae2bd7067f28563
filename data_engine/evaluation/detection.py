"""Detection evaluation on a dataset version's frozen test split: mAP50 and mAP50-95 overall, per class and per
slice (source/camera, or video), and speed in ms per image at the evaluated size. Ultralytics computes the
metrics (`model.val(split="test")`); slices are evaluated as image lists of their own."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from data_engine.detectors.device import pick_device

if TYPE_CHECKING:
    from data_engine.datasets import DatasetVersion, ManifestFrame

SliceBy = Literal["source", "video_id"]


class EvaluationError(RuntimeError):
    """A model or dataset that cannot be evaluated; the message says what to fix."""


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one model on one dataset version's split. `per_class`: class name -> {map50, map50_95} for
    classes with boxes in the split; `absent_classes`: classes of the class map without any (not gated on);
    `per_slice`: slice -> {map50, map50_95, images}."""

    dataset_id: str
    split: str
    images: int
    map50: float
    map50_95: float
    per_class: dict[str, dict[str, float]]
    per_slice: dict[str, dict[str, float]]
    absent_classes: tuple[str, ...]
    ms_per_image: float
    imgsz: int
    device: str
    slice_by: str = "source"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "absent_classes": list(self.absent_classes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(**{**data, "absent_classes": tuple(data.get("absent_classes", ()))})


def evaluate_model(
    weights: str | Path,
    dataset: DatasetVersion,
    *,
    imgsz: int = 640,
    batch: int = 16,
    device: str | None = None,
    split: str = "test",
    slice_by: SliceBy = "source",
    subsets: Mapping[str, Sequence[ManifestFrame]] | None = None,
) -> Evaluation:
    """Evaluate `weights` on the dataset's `split` (the frozen test split by default), overall, per class and per
    slice; slices whose key is unknown (empty) are left out. `subsets` are further named slices given as frames of
    the split (e.g. the frames under a rare condition); empty ones are left out."""
    from ultralytics import YOLO

    weights = Path(weights)
    if not weights.is_file():
        raise EvaluationError(f"weights {weights} do not exist; give the path of a trained model (.pt)")
    frames = dataset.manifest.frames_in(split)
    if not frames:
        raise EvaluationError(f"dataset {dataset.dataset_id} has no images in its {split} split; nothing to evaluate")
    device = device or pick_device()
    model = YOLO(str(weights))
    model_names = {int(key): str(value) for key, value in dict(model.names).items()}
    if model_names != dataset.manifest.class_map:
        raise EvaluationError(
            f"the model's classes {model_names} differ from dataset {dataset.dataset_id}'s class map "
            f"{dataset.manifest.class_map}; evaluate on a dataset version with the same class map"
        )
    present = {class_id for frame in frames for class_id in frame.classes}
    scratch = Path(tempfile.mkdtemp(prefix="data-engine-eval-"))
    try:
        overall = _validate(model, dataset.data_yaml, split, scratch / "all", imgsz, batch, device)
        slices: dict[str, list[str]] = {}
        for frame in frames:
            key = getattr(frame, slice_by)
            if key:
                slices.setdefault(key, []).append(str(dataset.image_path(frame)))
        for name, members in (subsets or {}).items():
            if members:
                slices[name] = [str(dataset.image_path(frame)) for frame in members]
        per_slice: dict[str, dict[str, float]] = {}
        for name, images in sorted(slices.items()):
            data_yaml = _subset_yaml(dataset, images, scratch / f"slice-{len(per_slice)}")
            metrics = _validate(model, data_yaml, "test", scratch / f"slice-{len(per_slice)}", imgsz, batch, device)
            per_slice[name] = {"map50": metrics["map50"], "map50_95": metrics["map50_95"], "images": len(images)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    class_map = dataset.manifest.class_map
    return Evaluation(
        dataset_id=dataset.dataset_id,
        split=split,
        images=len(frames),
        map50=overall["map50"],
        map50_95=overall["map50_95"],
        per_class={class_map[cid]: overall["per_class"].get(cid, _ZERO) for cid in sorted(present)},
        per_slice=per_slice,
        absent_classes=tuple(class_map[cid] for cid in sorted(set(class_map) - present)),
        ms_per_image=overall["ms_per_image"],
        imgsz=imgsz,
        device=device,
        slice_by=slice_by,
    )


_ZERO = {"map50": 0.0, "map50_95": 0.0}


def _validate(
    model: Any, data_yaml: Path, split: str, project: Path, imgsz: int, batch: int, device: str
) -> dict[str, Any]:
    metrics = model.val(
        data=str(data_yaml),
        split=split,
        imgsz=imgsz,
        batch=batch,
        device=device,
        plots=False,
        verbose=False,
        save_json=False,
        project=str(project),
        name="val",
        exist_ok=True,
    )
    box = metrics.box
    per_class = {
        int(class_id): {"map50": float(box.ap50[index]), "map50_95": float(box.ap[index])}
        for index, class_id in enumerate(box.ap_class_index)
    }
    speed = metrics.speed
    return {
        "map50": float(box.map50),
        "map50_95": float(box.map),
        "per_class": per_class,
        "ms_per_image": float(speed["preprocess"] + speed["inference"] + speed["postprocess"]),
    }


def _subset_yaml(dataset: DatasetVersion, images: list[str], folder: Path) -> Path:
    """A data.yaml whose test split is the given images (their labels stay where they are)."""
    folder.mkdir(parents=True)
    listing = folder / "images.txt"
    listing.write_text("\n".join(images) + "\n")
    names = "\n".join(f"  {cid}: {json.dumps(name)}" for cid, name in sorted(dataset.manifest.class_map.items()))
    data_yaml = folder / "data.yaml"
    data_yaml.write_text(
        f"path: {dataset.root.resolve()}\ntrain: images/train\nval: images/val\ntest: {listing}\nnames:\n{names}\n"
    )
    return data_yaml
