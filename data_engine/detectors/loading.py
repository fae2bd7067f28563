"""One `DATA_ENGINE_DETECTORS` entry to one detector, picked by name as Ultralytics' TRACKER_MAP picks trackers.

- `FAMILY:PATH.onnx` (e.g. `yolox:../models/yolox_nano.onnx`): an ONNX detector of that family;
- `PATH.onnx`: Ultralytics' own loader for an Ultralytics export (its metadata says so), else the ONNX family
  recognised from the output shape;
- `yolox_nano.onnx` alone and not a local file: YOLOX's official release file, downloaded when online and checked
  against its published sha256 before use;
- anything else: Ultralytics weights (`.pt` file, or an official name such as `yolo11n.pt` downloaded when online).
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data_engine.detectors.base import Detector, DetectorError
from data_engine.detectors.onnx_detector import OnnxDetector
from data_engine.detectors.onnx_families import FAMILIES
from data_engine.detectors.ultralytics_detector import UltralyticsDetector
from data_engine.settings import Settings

_SETTING = "DATA_ENGINE_DETECTORS"
OFFICIAL_ONNX: dict[str, tuple[str, str]] = {
    "yolox_nano.onnx": (
        "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx",
        "c789161ed43c8269fcd4e67c67eeeb4e80c622da2eb296a20bc6007bd18a0b7d",
    ),
}
"""Official ONNX files the engine fetches by name: release URL and the sha256 it must have."""


@dataclass(frozen=True)
class DetectorOptions:
    """How configured detectors run: `imgsz` applies to Ultralytics weights (an ONNX file fixes its own input),
    `classes` and `class_map` to models with COCO's classes (boxes of other classes are dropped)."""

    imgsz: int = 640
    conf: float = 0.1
    iou: float = 0.7
    classes: tuple[str, ...] = ()
    class_map: Mapping[str, str] = field(default_factory=dict)


def load_entry(entry: str, options: DetectorOptions, model_id: str | None = None) -> Detector:
    """The detector one configuration entry names; a bad entry or file is one `DetectorError`."""
    family, _, rest = entry.partition(":")
    if rest and family in FAMILIES:
        return _onnx(Path(rest), family, options, model_id)
    path = Path(entry).expanduser()
    if path.suffix.lower() == ".onnx":
        if path.is_file() and is_ultralytics_export(path):
            return _ultralytics(path, options, model_id)
        return _onnx(path, None, options, model_id)
    if path.is_file() and not _looks_like_checkpoint(path):
        raise DetectorError(
            f"{_SETTING} names {entry}, which is neither Ultralytics weights (.pt) nor an ONNX model (.onnx); "
            f"give a .pt or .onnx file, or FAMILY:PATH.onnx ({', '.join(FAMILIES)})"
        )
    return _ultralytics(entry, options, model_id)


def detector_options(settings: Settings) -> DetectorOptions:
    """How the configured detectors run, from the settings."""
    return DetectorOptions(
        imgsz=settings.detector_imgsz,
        conf=settings.detector_conf,
        iou=settings.detector_iou,
        classes=settings.classes,
        class_map=settings.class_renames,
    )


def load_detectors(settings: Settings) -> list[Detector]:
    """The configured detectors (DATA_ENGINE_DETECTORS: .pt, .onnx or FAMILY:PATH.onnx entries), loaded once."""
    return load_entries(settings.detectors, detector_options(settings))


def load_entries(entries: Sequence[str], options: DetectorOptions) -> list[Detector]:
    return [load_entry(entry, options) for entry in entries]


def _ultralytics(weights: str | Path, options: DetectorOptions, model_id: str | None) -> Detector:
    return UltralyticsDetector(
        weights,
        imgsz=options.imgsz,
        conf=options.conf,
        iou=options.iou,
        class_map=dict(options.class_map) or None,
        model_id=model_id,
    )


def _onnx(path: Path, family: str | None, options: DetectorOptions, model_id: str | None) -> Detector:
    local = path.expanduser()
    if not local.is_file():
        local = official_onnx(path.name) if str(path) == path.name and path.name in OFFICIAL_ONNX else local
    if not local.is_file():
        raise DetectorError(f"ONNX model {path} not found; set {_SETTING} to a local .onnx file")
    return OnnxDetector(
        local,
        family=family,
        conf=options.conf,
        classes=options.classes,
        class_map=options.class_map,
        model_id=model_id,
    )


def official_onnx(name: str, cache: Path | None = None) -> Path:
    """The official file `name`, from the user's cache or downloaded now; its sha256 is checked before use."""
    url, checksum = OFFICIAL_ONNX[name]
    target = (cache or Path.home() / ".cache" / "data-engine") / name
    if target.is_file() and _sha256(target) == checksum:
        return target
    if not online():
        raise DetectorError(
            f"{name} is not a local file and cannot be downloaded here (offline); set {_SETTING} to a local path "
            f"such as ../shared/models/{name}"
        )
    import requests

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{name}.tmp-{os.getpid()}")
    try:
        with requests.get(url, stream=True, timeout=60) as response:
            response.raise_for_status()
            with partial.open("wb") as out:
                for chunk in response.iter_content(1 << 20):
                    out.write(chunk)
    except requests.RequestException as error:
        partial.unlink(missing_ok=True)
        raise DetectorError(f"cannot download {name} from {url}: {error}; set {_SETTING} to a local path") from error
    if _sha256(partial) != checksum:
        partial.unlink(missing_ok=True)
        raise DetectorError(f"downloaded {name} does not have the published sha256 {checksum[:12]}...; not used")
    partial.replace(target)
    return target


def is_ultralytics_export(path: Path) -> bool:
    """Whether an ONNX file was exported by Ultralytics (its metadata names its task and classes)."""
    import onnxruntime as ort

    try:
        meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    except Exception:  # not a model at all: the ONNX loader gives the one-line error
        return False
    found = meta.custom_metadata_map
    return "names" in found and "task" in found


def _looks_like_checkpoint(path: Path) -> bool:
    """A PyTorch checkpoint is a zip archive (or an old pickle, which starts with 0x80)."""
    with path.open("rb") as file:
        head = file.read(4)
    return head.startswith(b"PK") or head[:1] == b"\x80"


def online() -> bool:
    """Whether downloads can be tried: not with YOLO_OFFLINE set, nor without a route to the release host."""
    if os.environ.get("YOLO_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    try:
        socket.create_connection(("github.com", 443), timeout=3).close()
    except OSError:
        return False
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
