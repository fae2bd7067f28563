"""The one Dagster Definitions object of the data engine (`dagster dev -w workspace.yaml`)."""

import os

import dagster as dg

from assets import autolabel, ingest, mining
from assets.jobs import process_new_videos
from resources import CatalogResource, ComputeResource, DetectorsResource, EngineSettingsResource, StoreResource
from sensors.inbox import inbox_sensor


def _env(name: str) -> dg.EnvVar | None:
    """An EnvVar when the variable is set (shown as such in the UI); otherwise the engine's default applies."""
    return dg.EnvVar(name) if os.environ.get(name) else None


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingest, mining, autolabel]),
    jobs=[process_new_videos],
    sensors=[inbox_sensor],
    resources={
        "catalog": CatalogResource(url=_env("DATA_ENGINE_CATALOG_URL")),
        "store": StoreResource(root=_env("DATA_ENGINE_STORE")),
        "engine_settings": EngineSettingsResource(inbox=_env("DATA_ENGINE_INBOX")),
        "detectors": DetectorsResource(),
        "compute": ComputeResource(),
    },
)
