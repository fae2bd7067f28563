"""One settings object, read from environment variables, an optional `.env` file and an optional TOML file.

Precedence: process environment > `.env` in the working directory > the TOML file named by
`DATA_ENGINE_CONFIG` (keys of its `[data_engine]` table, lower case without the prefix) > defaults.
"""

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from data_engine.compute import COMPUTE_KINDS
from data_engine.errors import EngineError

PREFIX = "DATA_ENGINE_"
ANNOTATION_BACKENDS: tuple[str, ...] = ("bundle", "labelstudio")
"""The annotation backends by name (data_engine.annotation.backends maps each to its class)."""
BUNDLE_ANSWER_FORMATS: tuple[str, ...] = ("labelstudio", "coco", "cvat", "yolo")
"""The formats a bundle's annotators can answer in (data_engine.annotation.bundle maps each to its file)."""


class SettingsError(EngineError, ValueError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """Everything the engine needs to know about where things live and how hard to work."""

    home: Path = Path("data")
    catalog_url: str = ""
    store: str = ""
    inbox: str = ""
    clip_seconds: float = 10.0
    batch_max_videos: int = 50
    settle_seconds: float = 2.0
    sensor_interval_seconds: int = 0
    detectors: tuple[str, ...] = ()
    detector_imgsz: int = 640
    detector_conf: float = 0.1
    detector_iou: float = 0.7
    budget_per_day: int = 6000
    triggers: tuple[str, ...] = ()
    """The triggers mining runs (DATA_ENGINE_TRIGGERS=flicker,frozen,hindsight_disagreement,box_jump); empty: the
    default ones (data_engine.mining registers them; box_jump and the other stretch-flagging ones run only when
    named)."""
    classes: tuple[str, ...] = ("person",)
    class_map: tuple[str, ...] = ()
    """MODEL_NAME:ENGINE_NAME pairs (DATA_ENGINE_CLASS_MAP=person:pedestrian): a model's class renamed to the user's."""
    train_model: str = "yolo11n.yaml"
    train_epochs: int = 30
    train_imgsz: int = 640
    train_budget_hours: float = 4.0
    price_per_hour: float = 0.0
    gate_min_gain: float = 0.01
    gate_max_drop: float = 0.05
    gate_min_map50: float = 0.1
    keep_models: int = 10
    retrain_min_new_images: int = 500
    annotation_project: str = "data-engine"
    annotation_backend: str = ""
    bundle_answer_format: str = "labelstudio"
    bundle_image_url: str = ""
    corrections_window_hours: float = 168.0
    label_studio_url: str = ""
    label_studio_document_root: str = ""
    label_studio_token: str = field(default="", repr=False)
    workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    compute: str = "processes"
    dask_address: str = ""

    def __post_init__(self) -> None:
        home = Path(self.home).expanduser()
        object.__setattr__(self, "home", home)
        if home.exists() and not home.is_dir():
            raise SettingsError(f"{PREFIX}HOME={str(home)!r} is a file, not a folder; point it at a folder")
        if not self.catalog_url:
            object.__setattr__(self, "catalog_url", f"sqlite:///{(home / 'catalog.db').absolute()}")
        if not self.store:
            object.__setattr__(self, "store", str((home / "store").absolute()))
        if not self.inbox:
            object.__setattr__(self, "inbox", str((home / "inbox").absolute()))
        _check_ranges(self)
        if not self.corrections_window_hours >= 0:
            raise SettingsError(
                f"{PREFIX}CORRECTIONS_WINDOW_HOURS must be 0 or more hours, got {self.corrections_window_hours}"
            )
        if self.annotation_backend and self.annotation_backend not in ANNOTATION_BACKENDS:
            raise SettingsError(
                f"{PREFIX}ANNOTATION_BACKEND={self.annotation_backend!r} is not one of {', '.join(ANNOTATION_BACKENDS)}"
            )
        if self.bundle_answer_format not in BUNDLE_ANSWER_FORMATS:
            raise SettingsError(
                f"{PREFIX}BUNDLE_ANSWER_FORMAT={self.bundle_answer_format!r} is not one of "
                f"{', '.join(BUNDLE_ANSWER_FORMATS)}"
            )
        if self.sensor_interval_seconds < 0:
            raise SettingsError(
                f"{PREFIX}SENSOR_INTERVAL_SECONDS must be 0 (defaults) or more, got {self.sensor_interval_seconds}"
            )
        malformed = [pair for pair in self.class_map if pair.count(":") != 1 or "" in pair.split(":")]
        if malformed:
            raise SettingsError(
                f"{PREFIX}CLASS_MAP entries must be MODEL_NAME:ENGINE_NAME (e.g. person:pedestrian); "
                f"got {malformed[0]!r}"
            )
        if self.compute not in COMPUTE_KINDS:
            raise SettingsError(f"{PREFIX}COMPUTE={self.compute!r} is not one of {', '.join(COMPUTE_KINDS)}")
        if self.compute == "dask" and not self.dask_address:
            raise SettingsError(
                f"{PREFIX}COMPUTE=dask needs {PREFIX}DASK_ADDRESS, the scheduler's address (e.g. tcp://scheduler:8786)"
            )

    @property
    def class_renames(self) -> dict[str, str]:
        """DATA_ENGINE_CLASS_MAP as model name -> engine name."""
        return dict(pair.split(":", 1) for pair in self.class_map)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> "Settings":
        """Build settings from the environment, a `.env` file and `DATA_ENGINE_CONFIG` (TOML)."""
        environ = os.environ if environ is None else environ
        values: dict[str, str] = {}
        toml_path = environ.get(f"{PREFIX}CONFIG")
        if toml_path:
            values.update(_read_toml(Path(toml_path)))
        if dotenv is not None and dotenv.is_file():
            values.update(_read_dotenv(dotenv))
        values.update({key: value for key, value in environ.items() if key.startswith(PREFIX)})
        return cls(**_parse(values))


_LIMITS: dict[str, tuple[float, float]] = {
    "clip_seconds": (1e-3, 86400.0),
    "batch_max_videos": (1, math.inf),
    "settle_seconds": (0.0, 86400.0),
    "detector_imgsz": (32, 8192),
    "detector_conf": (0.0, 1.0),
    "detector_iou": (0.0, 1.0),
    "budget_per_day": (0, math.inf),
    "train_epochs": (1, 100000),
    "train_imgsz": (32, 8192),
    "train_budget_hours": (1e-3, 10000.0),
    "price_per_hour": (0.0, math.inf),
    "gate_min_gain": (-1.0, 1.0),
    "gate_max_drop": (0.0, 1.0),
    "keep_models": (1, math.inf),
    "retrain_min_new_images": (1, math.inf),
    "workers": (1, 4096),
}
"""Inclusive bounds of the numeric settings: NaN, infinities and values outside them are refused at load."""


def _check_ranges(settings: Settings) -> None:
    for name, (low, high) in _LIMITS.items():
        value = getattr(settings, name)
        variable = f"{PREFIX}{name.upper()}"
        if not math.isfinite(value):
            raise SettingsError(f"{variable} must be a finite number, got {value}")
        if not low <= value <= high:
            upper = "" if math.isinf(high) else f" and at most {high:g}"
            raise SettingsError(f"{variable} must be at least {low:g}{upper}, got {value}")


def _parse(values: Mapping[str, str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for spec in fields(Settings):
        raw = values.get(PREFIX + spec.name.upper())
        if raw is None or raw == "":
            continue
        try:
            if spec.name == "home":
                parsed[spec.name] = Path(raw)
            elif spec.name in ("detectors", "classes", "class_map", "triggers"):
                parsed[spec.name] = tuple(item.strip() for item in raw.replace(";", ",").split(",") if item.strip())
            elif spec.type in (int, "int"):
                parsed[spec.name] = int(raw)
            elif spec.type in (float, "float"):
                parsed[spec.name] = float(raw)
            else:
                parsed[spec.name] = raw
        except ValueError as error:
            raise SettingsError(f"{PREFIX}{spec.name.upper()}={raw!r} is not valid: {error}") from error
    return parsed


def _read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        values[key.strip()] = value.strip().strip("'\"")
    return values


def _read_toml(path: Path) -> dict[str, str]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"cannot read {PREFIX}CONFIG file {path}: {error}") from error
    table = document.get("data_engine", document)
    return {
        PREFIX + key.upper(): ",".join(value) if isinstance(value, list) else str(value) for key, value in table.items()
    }
