"""Dagster resources: thin typed facades over data_engine, configured from the environment."""

from resources.compute import ComputeResource
from resources.detectors import DetectorsResource
from resources.engine import CatalogResource, EngineSettingsResource, StoreResource

__all__ = ["CatalogResource", "ComputeResource", "DetectorsResource", "EngineSettingsResource", "StoreResource"]
