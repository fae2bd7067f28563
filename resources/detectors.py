"""The detectors autolabelling and mining use, loaded once per process (not per clip)."""

from dataclasses import replace

import dagster as dg
from pydantic import PrivateAttr

from data_engine.catalog import Catalog
from data_engine.detectors import Detector
from data_engine.settings import Settings
from data_engine.stages.train import detectors_in_use
from data_engine.store import Store


class DetectorsResource(dg.ConfigurableResource):
    """Ultralytics detectors from DATA_ENGINE_DETECTORS (or `weights`); without any, the registry's champion."""

    weights: list[str] | None = None
    imgsz: int | None = None
    _detectors: list[Detector] | None = PrivateAttr(default=None)

    def get(self, catalog: Catalog, store: Store) -> list[Detector]:
        """The configured detectors, else the registry's champion, else none (a cold start)."""
        if self._detectors is None:
            self._detectors = detectors_in_use(catalog, store, self._settings())
        return self._detectors

    def _settings(self) -> Settings:
        base = Settings.from_env()
        overrides: dict[str, object] = {}
        if self.weights is not None:
            overrides["detectors"] = tuple(self.weights)
        if self.imgsz is not None:
            overrides["detector_imgsz"] = self.imgsz
        return replace(base, **overrides)
