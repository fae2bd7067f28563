"""Dagster resources: thin typed facades over data_engine, all configured through one settings resource."""

import dagster as dg

from resources.compute import ComputeResource
from resources.detectors import DetectorsResource
from resources.engine import CatalogResource, EngineSettingsResource, StoreResource


def engine_resources(settings: EngineSettingsResource) -> dict[str, dg.ConfigurableResource]:
    """Every resource the assets, sensors and schedules use, each holding `settings` as a nested resource."""
    catalog = CatalogResource(settings=settings)
    store = StoreResource(settings=settings)
    return {
        "engine_settings": settings,
        "catalog": catalog,
        "store": store,
        "compute": ComputeResource(settings=settings),
        "detectors": DetectorsResource(settings=settings, catalog=catalog, store=store),
    }


__all__ = [
    "CatalogResource",
    "ComputeResource",
    "DetectorsResource",
    "EngineSettingsResource",
    "StoreResource",
    "engine_resources",
]
