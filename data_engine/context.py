"""What a pipeline stage runs with, in one object: the stages take it instead of the same long list of the
catalog, the store, the settings, the backend, the detectors, the run id and progress each, and the pipeline's
steps (stages/pipeline.py) hand it on as it is. It lives below the stages, so every stage can import it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from data_engine.catalog import Catalog
from data_engine.compute import ComputeBackend, InProcessBackend
from data_engine.progress import Progress
from data_engine.settings import Settings
from data_engine.store import Store

if TYPE_CHECKING:  # ingest runs without detectors: importing them (numpy, OpenCV, fsspec) costs it ~0.08 s
    from data_engine.detectors import Detector


@dataclass
class StageContext:
    """What a step runs with: the engine's catalog, store and settings, the compute backend per-clip work runs on,
    the detectors in use (none: a cold start), the run id recorded with every change, who watches progress, and
    the day whose budget selection spends (None: today; the proving ground's rounds are days of their own)."""

    catalog: Catalog
    store: Store
    settings: Settings
    backend: ComputeBackend = field(default_factory=InProcessBackend)
    detectors: Sequence[Detector] = ()
    run_id: str | None = None
    progress: Progress | None = None
    budget_day: str | None = None

    @property
    def cold_start(self) -> bool:
        return not self.detectors
