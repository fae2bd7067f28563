"""One settings object, read from environment variables, an optional `.env` file and an optional TOML file.

Precedence: process environment > `.env` in the working directory > the TOML file named by
`DATA_ENGINE_CONFIG` (keys of its `[data_engine]` table, lower case without the prefix) > defaults.
"""

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from data_engine.compute import COMPUTE_KINDS

PREFIX = "DATA_ENGINE_"


class SettingsError(ValueError):
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
    classes: tuple[str, ...] = ("person",)
    train_model: str = "yolo11n.yaml"
    train_epochs: int = 30
    train_imgsz: int = 640
    train_budget_hours: float = 4.0
    price_per_hour: float = 0.0
    gate_min_gain: float = 0.01
    gate_max_drop: float = 0.05
    keep_models: int = 10
    retrain_min_new_images: int = 500
    annotation_project: str = "data-engine"
    label_studio_url: str = ""
    label_studio_document_root: str = ""
    label_studio_token: str = field(default="", repr=False)
    workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    compute: str = "processes"
    dask_address: str = ""

    def __post_init__(self) -> None:
        home = Path(self.home).expanduser()
        object.__setattr__(self, "home", home)
        if not self.catalog_url:
            object.__setattr__(self, "catalog_url", f"sqlite:///{(home / 'catalog.db').absolute()}")
        if not self.store:
            object.__setattr__(self, "store", str((home / "store").absolute()))
        if not self.inbox:
            object.__setattr__(self, "inbox", str((home / "inbox").absolute()))
        if self.clip_seconds <= 0:
            raise SettingsError(f"{PREFIX}CLIP_SECONDS must be positive, got {self.clip_seconds}")
        if self.budget_per_day < 0:
            raise SettingsError(f"{PREFIX}BUDGET_PER_DAY must be 0 or more frames, got {self.budget_per_day}")
        if self.batch_max_videos < 1:
            raise SettingsError(f"{PREFIX}BATCH_MAX_VIDEOS must be at least 1, got {self.batch_max_videos}")
        if self.sensor_interval_seconds < 0:
            raise SettingsError(
                f"{PREFIX}SENSOR_INTERVAL_SECONDS must be 0 (defaults) or more, got {self.sensor_interval_seconds}"
            )
        if self.workers < 1:
            raise SettingsError(f"{PREFIX}WORKERS must be at least 1, got {self.workers}")
        if self.compute not in COMPUTE_KINDS:
            raise SettingsError(f"{PREFIX}COMPUTE={self.compute!r} is not one of {', '.join(COMPUTE_KINDS)}")
        if self.compute == "dask" and not self.dask_address:
            raise SettingsError(
                f"{PREFIX}COMPUTE=dask needs {PREFIX}DASK_ADDRESS, the scheduler's address (e.g. tcp://scheduler:8786)"
            )

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


def _parse(values: Mapping[str, str]) -> dict[str, object]:
    parsed: dict[str, object] = {}
    for spec in fields(Settings):
        raw = values.get(PREFIX + spec.name.upper())
        if raw is None or raw == "":
            continue
        try:
            if spec.name == "home":
                parsed[spec.name] = Path(raw)
            elif spec.name in ("detectors", "classes"):
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
