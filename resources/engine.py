"""The engine's settings, catalog and store as Dagster resources: one configuration path.

`EngineSettingsResource` has one field per setting (plus `config`, the TOML file), each the same text the
DATA_ENGINE_* variable would hold. `definitions.py` binds every variable set in the environment with `dg.EnvVar`, so
the UI shows all settings and where each value comes from (secrets by name only). The resource builds the engine's
`Settings` once, through the same parser the CLI uses (`Settings.from_env`, with `.env` and the TOML file under the
resource's values); the catalog, store, compute and detector resources hold it as a nested resource.
"""

import functools
import os
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from data_engine.catalog import Catalog
from data_engine.settings import PREFIX, Settings
from data_engine.store import Store


def _setting(description: str) -> Any:
    """An optional text field; the description names its variable and says what it sets."""
    return Field(default=None, description=description)


class EngineSettingsResource(dg.ConfigurableResource):
    """Every DATA_ENGINE_* setting as text (unset: the `.env` file, the TOML file, then the engine's default)."""

    config: str | None = _setting("DATA_ENGINE_CONFIG: a TOML file with a [data_engine] table")
    home: str | None = _setting("DATA_ENGINE_HOME: holds the SQLite catalog and the local store unless overridden")
    catalog_url: str | None = _setting("DATA_ENGINE_CATALOG_URL: any SQLAlchemy URL")
    store: str | None = _setting("DATA_ENGINE_STORE: root of clip, label and model files (folder or fsspec URL)")
    inbox: str | None = _setting("DATA_ENGINE_INBOX: where new raw videos arrive (folder or fsspec URL prefix)")
    clip_seconds: str | None = _setting("DATA_ENGINE_CLIP_SECONDS: target clip length")
    batch_max_videos: str | None = _setting("DATA_ENGINE_BATCH_MAX_VIDEOS: most videos in one ingest batch")
    settle_seconds: str | None = _setting("DATA_ENGINE_SETTLE_SECONDS: a file unchanged this long is complete")
    sensor_interval_seconds: str | None = _setting(
        "DATA_ENGINE_SENSOR_INTERVAL_SECONDS: read when the definitions load (sensor intervals)"
    )
    detectors: str | None = _setting(
        "DATA_ENGINE_DETECTORS: comma-separated models (.pt Ultralytics weights, PATH.onnx or FAMILY:PATH.onnx)"
    )
    detector_imgsz: str | None = _setting("DATA_ENGINE_DETECTOR_IMGSZ: inference image size")
    detector_conf: str | None = _setting("DATA_ENGINE_DETECTOR_CONF: detector confidence floor")
    detector_iou: str | None = _setting("DATA_ENGINE_DETECTOR_IOU: NMS IoU")
    budget_per_day: str | None = _setting("DATA_ENGINE_BUDGET_PER_DAY: most frames selected per day")
    triggers: str | None = _setting("DATA_ENGINE_TRIGGERS: the triggers mining runs (empty: the default ones)")
    classes: str | None = _setting("DATA_ENGINE_CLASSES: class names for a cold start; the classes ONNX models keep")
    class_map: str | None = _setting("DATA_ENGINE_CLASS_MAP: MODEL_NAME:ENGINE_NAME pairs renaming a model's classes")
    train_model: str | None = _setting("DATA_ENGINE_TRAIN_MODEL: architecture (.yaml) or starting weights (.pt)")
    train_epochs: str | None = _setting("DATA_ENGINE_TRAIN_EPOCHS: training length")
    train_imgsz: str | None = _setting("DATA_ENGINE_TRAIN_IMGSZ: training image size")
    train_budget_hours: str | None = _setting("DATA_ENGINE_TRAIN_BUDGET_HOURS: hard wall-time budget of a training")
    price_per_hour: str | None = _setting("DATA_ENGINE_PRICE_PER_HOUR: device price for the cost estimate")
    gate_min_gain: str | None = _setting("DATA_ENGINE_GATE_MIN_GAIN: mAP50-95 gain a challenger needs")
    gate_max_drop: str | None = _setting("DATA_ENGINE_GATE_MAX_DROP: largest drop allowed for a class or slice")
    gate_min_map50: str | None = _setting(
        "DATA_ENGINE_GATE_MIN_MAP50: test mAP50 a first model needs before it leaves the cold start"
    )
    keep_models: str | None = _setting("DATA_ENGINE_KEEP_MODELS: model versions whose weights are kept")
    retrain_min_new_images: str | None = _setting(
        "DATA_ENGINE_RETRAIN_MIN_NEW_IMAGES: new reviewed images that make the retrain sensor ask for a retrain"
    )
    annotation_project: str | None = _setting("DATA_ENGINE_ANNOTATION_PROJECT: project or bundle name")
    annotation_backend: str | None = _setting("DATA_ENGINE_ANNOTATION_BACKEND: bundle or labelstudio")
    bundle_answer_format: str | None = _setting(
        "DATA_ENGINE_BUNDLE_ANSWER_FORMAT: the format a bundle's annotators answer in (labelstudio, coco, cvat, yolo)"
    )
    bundle_image_url: str | None = _setting("DATA_ENGINE_BUNDLE_IMAGE_URL: an image server that serves the bundles")
    corrections_window_hours: str | None = _setting(
        "DATA_ENGINE_CORRECTIONS_WINDOW_HOURS: closed runs pulled again for corrections made after they closed"
    )
    label_studio_url: str | None = _setting("DATA_ENGINE_LABEL_STUDIO_URL: Label Studio to push tasks to")
    label_studio_document_root: str | None = _setting(
        "DATA_ENGINE_LABEL_STUDIO_DOCUMENT_ROOT: Label Studio's local-files document root"
    )
    label_studio_token: str | None = _setting("DATA_ENGINE_LABEL_STUDIO_TOKEN: its API token (bind with EnvVar)")
    workers: str | None = _setting("DATA_ENGINE_WORKERS: parallel workers for per-clip work")
    compute: str | None = _setting("DATA_ENGINE_COMPUTE: inprocess, processes or dask")
    dask_address: str | None = _setting("DATA_ENGINE_DASK_ADDRESS: the Dask scheduler")

    _settings: Settings | None = PrivateAttr(default=None)

    @classmethod
    def from_environment(cls) -> "EngineSettingsResource":
        """Every field whose DATA_ENGINE_* variable is set, bound to it with `dg.EnvVar` (resolved at launch)."""
        bound = {name: dg.EnvVar(variable(name)) for name in cls.model_fields if variable(name) in os.environ}
        return cls(**bound)

    @classmethod
    def at_load(cls) -> "EngineSettingsResource":
        """Every field whose DATA_ENGINE_* variable is set, with the value it has now: for what Dagster fixes when
        the definitions load (sensor intervals), before any launch resolves the bound variables."""
        given = {name: os.environ[variable(name)] for name in cls.model_fields if variable(name) in os.environ}
        return cls(**given)

    @property
    def settings(self) -> Settings:
        """The engine's settings from this resource's values (then `.env`, the TOML file, defaults)."""
        if self._settings is None:
            given = tuple(sorted((variable(k), v) for k, v in self.model_dump().items() if v is not None))
            self._settings = _parse(given)
        return self._settings


@functools.lru_cache(maxsize=16)
def _parse(given: tuple[tuple[str, str], ...]) -> Settings:
    """Parse once per set of values in this process: the nested copies Dagster makes of the settings resource for
    each resource that holds it share one Settings (edits of `.env` or the TOML file apply on a code reload, as
    changes of the environment do)."""
    return Settings.from_env(dict(given))


def variable(field_name: str) -> str:
    """The environment variable of a settings field: `clip_seconds` -> DATA_ENGINE_CLIP_SECONDS."""
    return PREFIX + field_name.upper()


class CatalogResource(dg.ConfigurableResource):
    """The per-clip catalog at the settings' `catalog_url`, opened once per run (or sensor tick)."""

    settings: EngineSettingsResource
    _catalog: Catalog | None = PrivateAttr(default=None)

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.settings.settings.catalog_url)
        return self._catalog

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._catalog is not None:
            self._catalog.dispose()


class StoreResource(dg.ConfigurableResource):
    """Where clips, labels and models live: the settings' `store` (a folder or an fsspec URL)."""

    settings: EngineSettingsResource
    _store: Store | None = PrivateAttr(default=None)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings.settings.store)
            self._store.remove_stale_temporaries()  # what a killed run left, before this one writes
        return self._store
