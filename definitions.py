"""The one Dagster Definitions object of the data engine (`dagster dev -w workspace.yaml`).

Sensors and schedules that start enabled: `inbox_sensor` (new videos -> one run per batch), `annotation_sensor`
(reviewed tasks on Label Studio -> a pull), `retrain_sensor` (enough new reviewed images -> retrain) and the
`weekly_retrain` schedule (Mondays 03:00).
"""

import os

import dagster as dg

from assets import annotation, autolabel, ingest, mining, training
from assets.jobs import process_new_videos
from resources import CatalogResource, ComputeResource, DetectorsResource, EngineSettingsResource, StoreResource
from sensors.annotation import annotation_sensor, pull_reviews_job
from sensors.inbox import inbox_sensor
from sensors.training import retrain_job, retrain_sensor, weekly_retrain


def _env(name: str) -> dg.EnvVar | None:
    """An EnvVar when the variable is set (shown as such in the UI); otherwise the engine's default applies."""
    return dg.EnvVar(name) if os.environ.get(name) else None


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingest, mining, autolabel, annotation, training]),
    jobs=[process_new_videos, pull_reviews_job, retrain_job],
    sensors=[inbox_sensor, annotation_sensor, retrain_sensor],
    schedules=[weekly_retrain],
    resources={
        "catalog": CatalogResource(url=_env("DATA_ENGINE_CATALOG_URL")),
        "store": StoreResource(root=_env("DATA_ENGINE_STORE")),
        "engine_settings": EngineSettingsResource(inbox=_env("DATA_ENGINE_INBOX")),
        "detectors": DetectorsResource(),
        "compute": ComputeResource(),
    },
)
