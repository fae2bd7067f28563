"""Any Ultralytics detection checkpoint (YOLO of any size, RT-DETR) as a batched `Detector`, and `DetectorSpec`, the
same detector as plain data that compute workers load it from."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data_engine.attributes import attributes
from data_engine.detections import Detections, from_ultralytics
from data_engine.detectors.base import DetectorError, check_same_file, inference_key
from data_engine.detectors.device import pick_device
from data_engine.store import content_hash

_SETTING = "DATA_ENGINE_DETECTORS"
OPERATING_THRESHOLD = 0.25
"""Ultralytics' own default confidence: where its scores are thresholded when nothing else is said."""
CPU_BATCH = 16
CUDA_BATCH = 64
"""Frames per forward pass when the batch is not given: on a GPU large batches keep it busy; on a CPU they only cost
memory."""


@dataclass(frozen=True)
class DetectorSpec:
    """An `UltralyticsDetector` as picklable data: what a compute worker needs to load the same detector.

    `checksum` is the sha256 of the weights: a worker refuses weights that differ from the orchestrator's, and the
    inference key (which names stored detections) changes with it. `device`, `half` and `batch` as requested (None:
    decided on the worker, so a GPU worker uses its GPU whatever the orchestrator has).
    """

    weights: str
    checksum: str
    imgsz: int = 640
    conf: float = 0.25
    iou: float = 0.7
    device: str | None = None
    half: bool | None = None
    batch: int | None = None
    class_map: tuple[tuple[str, str], ...] = ()
    names: tuple[tuple[int, str], ...] | None = None

    @property
    def inference_key(self) -> str:
        """What the detections depend on: the weights' content and the settings that change boxes (not the device,
        the precision or the batch size, which only change how fast they come)."""
        return inference_key(
            {
                "weights": self.checksum,
                "imgsz": self.imgsz,
                "conf": self.conf,
                "iou": self.iou,
                "class_map": list(self.class_map),
                "names": None if self.names is None else list(self.names),
            }
        )

    def load(self) -> UltralyticsDetector:
        """The detector this spec describes, loaded here (see `data_engine.detectors.cache` to load once per worker)."""
        detector = UltralyticsDetector(
            self.weights,
            **attributes(self, "imgsz", "conf", "iou", "device", "half", "batch"),
            class_map=dict(self.class_map),
            names=None if self.names is None else dict(self.names),
        )
        check_same_file(f"the detector weights file {self.weights}", self.checksum, detector.checksum)
        return detector


class UltralyticsDetector:
    """Batched inference with Ultralytics weights.

    `weights`: a local checkpoint, or an official name such as "yolo11n.pt" which Ultralytics downloads only when
    online and YOLO_OFFLINE is unset (otherwise this fails at once instead of hanging on a download).
    `device` None picks CUDA (with half precision and batches of CUDA_BATCH) when available, else CPU (batches of
    CPU_BATCH). `class_map` renames the model's classes (model name -> engine name) and `names` fixes the engine's
    class ids, so that models trained with other class lists can be compared and fused; classes outside `names`
    are dropped. `model_id` names the model in box provenance and label files (default: the weights' file name and
    checksum; the registry passes its own id)."""

    def __init__(
        self,
        weights: str | Path,
        imgsz: int = 640,
        conf: float = 0.25,
        iou: float = 0.7,
        device: str | None = None,
        half: bool | None = None,
        batch: int | None = None,
        class_map: Mapping[str, str] | None = None,
        names: Mapping[int, str] | None = None,
        model_id: str | None = None,
    ) -> None:
        if batch is not None and batch < 1:
            raise DetectorError(f"batch must be at least 1; got {batch}")
        self.weights = resolve_weights(weights)
        self.imgsz, self.conf, self.iou = imgsz, conf, iou
        self.device = device or pick_device()
        on_cuda = self.device.startswith("cuda")
        self.half = on_cuda if half is None else half
        self.batch = batch or (CUDA_BATCH if on_cuda else CPU_BATCH)
        self.model = _load(self.weights)
        self.checksum = content_hash(self.weights) if self.weights.is_file() else ""
        self.model_id = model_id or (f"{self.weights.stem}-{self.checksum[:8]}" if self.checksum else self.weights.stem)
        model_names = {int(key): str(value) for key, value in self.model.names.items()}
        self.class_map = dict(class_map or {})
        self.names, self._class_lookup = _class_mapping(model_names, self.class_map, names)
        self.spec = DetectorSpec(
            weights=str(self.weights),
            **attributes(self, "checksum", "imgsz", "conf", "iou"),
            device=device,  # device, half and batch as requested, not as resolved here: see DetectorSpec
            half=half,
            batch=batch,
            class_map=tuple(sorted(self.class_map.items())),
            names=None if names is None else tuple(sorted((int(key), str(value)) for key, value in names.items())),
        )

    @property
    def params(self) -> dict[str, Any]:
        """How this detector runs, for label files and reproducibility."""
        return {
            "model_id": self.model_id,
            "weights": str(self.weights),
            "architecture": type(self.model).__name__,
            "imgsz": self.imgsz,
            "conf": self.conf,
            "iou": self.iou,
            "operating_threshold": OPERATING_THRESHOLD,
            "device": self.device,
            "half": self.half,
            "batch": self.batch,
            "class_map": self.class_map,
            "inference_key": self.spec.inference_key,
        }

    def predict(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Detections for each BGR frame, `batch` frames per forward pass."""
        detections: list[Detections] = []
        for start in range(0, len(frames), self.batch):
            chunk = list(frames[start : start + self.batch])
            results = self.model.predict(
                chunk,
                imgsz=self.imgsz,
                conf=self.conf,
                iou=self.iou,
                device=self.device,
                batch=len(chunk),
                **({"quantize": 16} if self.half else {}),
                verbose=False,
            )
            detections.extend(self._to_engine_classes(from_ultralytics(result, self.model_id)) for result in results)
        return detections

    def _to_engine_classes(self, detections: Detections) -> Detections:
        if self._class_lookup is None:
            return detections
        class_id = self._class_lookup[detections.class_id] if len(detections) else detections.class_id
        keep = class_id >= 0
        kept = detections[keep]
        return Detections(kept.xyxy, kept.confidence, class_id[keep], kept.track_id, kept.provenance, self.names)


def resolve_weights(weights: str | Path) -> Path:
    """The local checkpoint path, or the official name when Ultralytics may download it; else a clear error."""
    path = Path(weights).expanduser()
    if path.is_file():
        return path
    looks_official = path.name == str(weights) and path.suffix == ".pt"
    if looks_official and _may_download():
        return path
    raise DetectorError(
        f"detector weights {weights} not found locally and cannot be downloaded here (offline or YOLO_OFFLINE set); "
        f"set {_SETTING} to a local .pt file"
    )


def _may_download() -> bool:
    from ultralytics.utils import is_online

    return os.environ.get("YOLO_OFFLINE", "").lower() not in {"1", "true", "yes"} and is_online()


def _load(weights: Path) -> Any:
    """YOLO or RT-DETR by name or by what the checkpoint holds; any loading failure names the file."""
    from ultralytics import RTDETR, YOLO

    try:
        if "rtdetr" in weights.name.lower():
            return RTDETR(str(weights))
        model = YOLO(str(weights))
        if type(model.model).__name__ == "RTDETRDetectionModel":
            return RTDETR(str(weights))
    except Exception as error:  # torch, pickle and zip errors of a bad file are many and unrelated
        raise DetectorError(
            f"cannot load detector weights {weights}: corrupt or not an Ultralytics checkpoint ({error}); "
            f"point {_SETTING} at a valid .pt file"
        ) from error
    if model.task != "detect":
        raise DetectorError(f"weights {weights} are a {model.task!r} model; autolabelling needs a 'detect' model")
    return model


def _class_mapping(
    model_names: dict[int, str], class_map: Mapping[str, str], names: Mapping[int, str] | None
) -> tuple[dict[int, str], np.ndarray | None]:
    """The engine's class names and a lookup array model id -> engine id (-1 = dropped); None when identical."""
    if not class_map and names is None:
        return model_names, None
    unknown = sorted(set(class_map) - set(model_names.values()))
    if unknown:
        raise DetectorError(f"class_map names classes the model does not have: {unknown}; it has {model_names}")
    renamed = {class_id: class_map.get(name, name) for class_id, name in model_names.items()}
    target = dict(names) if names is not None else dict(enumerate(dict.fromkeys(renamed.values())))
    engine_id = {name: class_id for class_id, name in target.items()}
    lookup = np.full(max(model_names) + 1, -1, dtype=np.int64)
    for class_id, name in renamed.items():
        lookup[class_id] = engine_id.get(name, -1)
    return {int(key): str(value) for key, value in target.items()}, lookup
