"""Detection evaluation on a dataset version's frozen test split: mAP50 and mAP50-95 overall, per class and per
slice (source/camera, or video), and speed in ms per image at the evaluated size. Ultralytics computes the
metrics (`model.val`); every set of images (the split, each slice, the new-test images) is evaluated as an image
list of its own.

A model is evaluated on the classes it knows, matched by name: a champion trained before a class was added is
measured on the same images as the challenger that knows the new class, with the new class's boxes left out, so
that the gate can compare the two on the classes both know. Ultralytics' own console output is silenced; the
caller reports the numbers."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from data_engine.attributes import attributes
from data_engine.datasets.splits import NEW_TEST
from data_engine.detectors.device import pick_device
from data_engine.errors import EngineError

if TYPE_CHECKING:
    from data_engine.datasets import DatasetVersion, ManifestFrame

SliceBy = Literal["source", "video_id"]
ClassMetrics = dict[str, dict[str, float]]


class EvaluationError(EngineError):
    """A model or dataset that cannot be evaluated; the message says what to fix."""


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one model on one dataset version's split.

    `per_class`: class name -> {map50, map50_95} for the classes with boxes in the split that the model knows;
    `absent_classes`: classes the model knows without any box in the split; `unknown_classes`: classes with
    boxes in the split that the model does not know (left out of every number); `per_slice`: slice ->
    {map50, map50_95, images} and `per_slice_class` the same per class; `new_test`: the same numbers on the images
    of test videos that came after the test split froze (reported beside it, never gated on; empty when none)."""

    dataset_id: str
    split: str
    images: int
    map50: float
    map50_95: float
    per_class: ClassMetrics
    per_slice: dict[str, dict[str, float]]
    absent_classes: tuple[str, ...]
    ms_per_image: float
    imgsz: int
    device: str
    slice_by: str = "source"
    extra: dict[str, Any] = field(default_factory=dict)
    unknown_classes: tuple[str, ...] = ()
    per_slice_class: dict[str, ClassMetrics] = field(default_factory=dict)
    new_test: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "absent_classes": list(self.absent_classes),
            "unknown_classes": list(self.unknown_classes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(
            **{
                **data,
                "absent_classes": tuple(data.get("absent_classes", ())),
                "unknown_classes": tuple(data.get("unknown_classes", ())),
            }
        )


def trained_imgsz(weights: str | Path, default: int) -> int:
    """The image size an Ultralytics checkpoint was trained at (its `train_args` imgsz; the larger side when it
    is a pair), else `default`: a model measured at another size than it learnt at is measured unfairly."""
    import torch

    try:
        checkpoint = torch.load(str(weights), map_location="cpu", weights_only=False)
    except Exception:  # not a checkpoint torch reads (another format): the caller's size
        return default
    imgsz = (checkpoint.get("train_args") or {}).get("imgsz") if isinstance(checkpoint, dict) else None
    if isinstance(imgsz, (list, tuple)) and imgsz:
        imgsz = max(int(side) for side in imgsz)
    return int(imgsz) if isinstance(imgsz, (int, float)) and imgsz > 0 else default


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
    slice, on the classes the model knows; slices whose key is unknown (empty) are left out. `subsets` are further
    named slices given as frames of the split (e.g. the frames under a rare condition); empty ones are left out. On
    the test split the new-test images, if any, are evaluated beside it."""
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
    class_map = dataset.manifest.class_map
    to_model = {class_id: model_id for model_id, name in model_names.items() for class_id in _ids_of(class_map, name)}
    if not to_model:
        raise EvaluationError(
            f"the model's classes {sorted(model_names.values())} share none with dataset {dataset.dataset_id}'s "
            f"classes {sorted(class_map.values())}; evaluate it on a dataset of its classes"
        )
    present = {class_id for frame in frames for class_id in frame.classes}
    scratch = Path(tempfile.mkdtemp(prefix="data-engine-eval-"))
    try:
        view = _ModelView(dataset, scratch, model_names, to_model)
        with _quiet_ultralytics():
            overall = view.validate(model, frames, imgsz, batch, device)
            slices: dict[str, list[ManifestFrame]] = {}
            for frame in frames:
                key = getattr(frame, slice_by)
                if key:
                    slices.setdefault(key, []).append(frame)
            for name, members in (subsets or {}).items():
                if members:
                    slices[name] = list(members)
            per_slice, per_slice_class = {}, {}
            for name, members in sorted(slices.items()):
                metrics = view.validate(model, members, imgsz, batch, device)
                per_slice[name] = {"map50": metrics.map50, "map50_95": metrics.map50_95, "images": len(members)}
                per_slice_class[name] = metrics.per_class
            new_frames = dataset.manifest.frames_in(NEW_TEST) if split == "test" else []
            new_test: dict[str, Any] = {}
            if new_frames:
                metrics = view.validate(model, new_frames, imgsz, batch, device)
                new_test = {"images": len(new_frames), **attributes(metrics, "map50", "map50_95", "per_class")}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    known = set(to_model)
    return Evaluation(
        dataset_id=dataset.dataset_id,
        split=split,
        images=len(frames),
        **attributes(overall, "map50", "map50_95", "per_class", "ms_per_image"),
        per_slice=per_slice,
        absent_classes=tuple(class_map[cid] for cid in sorted(known - present)),
        imgsz=imgsz,
        device=device,
        slice_by=slice_by,
        unknown_classes=tuple(class_map[cid] for cid in sorted(present - known)),
        per_slice_class=per_slice_class,
        new_test=new_test,
    )


def _ids_of(class_map: Mapping[int, str], name: str) -> list[int]:
    return [class_id for class_id, known in class_map.items() if known == name]


@dataclass(frozen=True)
class _Metrics:
    map50: float
    map50_95: float
    per_class: ClassMetrics
    ms_per_image: float


class _ModelView:
    """The dataset's images with their labels in the model's class ids (classes it does not know dropped), in a
    scratch folder: images are symbolic links, labels are rewritten. Ultralytics finds a label by replacing the
    last `/images/` of the image path with `/labels/`, so both live side by side under `scratch`."""

    def __init__(
        self, dataset: DatasetVersion, scratch: Path, model_names: Mapping[int, str], to_model: Mapping[int, int]
    ) -> None:
        self.dataset, self.scratch = dataset, scratch
        self.model_names, self.to_model = dict(model_names), dict(to_model)
        self.linked: dict[str, Path] = {}
        self.sets = 0

    def image(self, frame: ManifestFrame) -> Path:
        """The frame's image in the view (linked, its labels rewritten, the first time it is asked for)."""
        if frame.image in self.linked:
            return self.linked[frame.image]
        source = self.dataset.image_path(frame)
        target = self.scratch / "images" / Path(frame.image).name
        label_target = self.scratch / "labels" / f"{target.stem}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        label_target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source.resolve())
        label_source = self.dataset.root / Path(frame.image.replace("images/", "labels/", 1)).with_suffix(".txt")
        lines = []
        for line in label_source.read_text().splitlines():
            parts = line.split()
            if parts and int(parts[0]) in self.to_model:
                lines.append(" ".join([str(self.to_model[int(parts[0])]), *parts[1:]]))
        label_target.write_text("".join(f"{line}\n" for line in lines))
        self.linked[frame.image] = target
        return target

    def validate(self, model: Any, frames: Sequence[ManifestFrame], imgsz: int, batch: int, device: str) -> _Metrics:
        """Metrics of `model` on these frames, per class by name for the classes with boxes among them."""
        self.sets += 1
        folder = self.scratch / f"set-{self.sets}"
        folder.mkdir()
        listing = folder / "images.txt"
        listing.write_text("".join(f"{self.image(frame)}\n" for frame in frames))
        data_yaml = folder / "data.yaml"
        description = {"path": str(self.scratch), "train": str(listing), "val": str(listing), "test": str(listing)}
        data_yaml.write_text(yaml.safe_dump({**description, "names": self.model_names}, sort_keys=False))
        metrics = model.val(
            data=str(data_yaml),
            split="test",
            imgsz=imgsz,
            batch=batch,
            device=device,
            plots=False,
            verbose=False,
            save_json=False,
            project=str(folder),
            name="val",
            exist_ok=True,
        )
        box = metrics.box
        by_model_id = {
            int(class_id): {"map50": float(box.ap50[index]), "map50_95": float(box.ap[index])}
            for index, class_id in enumerate(box.ap_class_index)
        }
        present = sorted({self.to_model[cid] for frame in frames for cid in frame.classes if cid in self.to_model})
        speed = metrics.speed
        return _Metrics(
            map50=float(box.map50),
            map50_95=float(box.map),
            per_class={self.model_names[mid]: by_model_id.get(mid, dict(_ZERO)) for mid in present},
            ms_per_image=float(speed["preprocess"] + speed["inference"] + speed["postprocess"]),
        )


_ZERO = {"map50": 0.0, "map50_95": 0.0}


@contextlib.contextmanager
def _quiet_ultralytics() -> Iterator[None]:
    """Ultralytics logs a banner, a dataset scan, progress bars and a table per `val` call; its progress bars are
    off while its logger is above INFO."""
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(level)
