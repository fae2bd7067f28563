"""The detectors autolabelling and mining use, loaded once per run or sensor tick (not per clip)."""

import dagster as dg
from pydantic import PrivateAttr

from data_engine.detectors import Detector
from data_engine.registry import detectors_in_use
from resources.engine import CatalogResource, EngineSettingsResource, StoreResource


class DetectorsResource(dg.ConfigurableResource):
    """The settings' `detectors`; without any, the registry's champion (read from the catalog and the store)."""

    settings: EngineSettingsResource
    catalog: CatalogResource
    store: StoreResource
    _detectors: list[Detector] | None = PrivateAttr(default=None)

    @property
    def detectors(self) -> list[Detector]:
        """The configured detectors, else the registry's champion, else none (a cold start)."""
        if self._detectors is None:
            self._detectors = detectors_in_use(self.catalog.catalog, self.store.store, self.settings.settings)
        return self._detectors
