"""The configured detectors, loaded once per process (not per clip)."""

import dagster as dg
from pydantic import PrivateAttr

from data_engine.detectors import Detector
from data_engine.settings import Settings
from data_engine.stages.autolabel import load_detectors


class DetectorsResource(dg.ConfigurableResource):
    """Ultralytics detectors from DATA_ENGINE_DETECTORS (comma-separated weights) unless `weights` is given."""

    weights: list[str] | None = None
    imgsz: int | None = None
    _detectors: list[Detector] | None = PrivateAttr(default=None)

    @property
    def configured(self) -> bool:
        return bool(self._settings().detectors)

    def get(self) -> list[Detector]:
        if self._detectors is None:
            self._detectors = load_detectors(self._settings())
        return self._detectors

    def _settings(self) -> Settings:
        base = Settings.from_env()
        overrides: dict[str, object] = {}
        if self.weights is not None:
            overrides["detectors"] = tuple(self.weights)
        if self.imgsz is not None:
            overrides["detector_imgsz"] = self.imgsz
        return Settings(**{**base.__dict__, **overrides})
