"""Where per-clip work runs: in-process, a local process pool or a Dask cluster (DATA_ENGINE_COMPUTE)."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from data_engine.compute import ComputeBackend, backend_from_settings
from resources.engine import EngineSettingsResource


class ComputeResource(dg.ConfigurableResource):
    """The compute backend the settings name (`compute`, `workers`, `dask_address`), for expensive per-clip work."""

    settings: EngineSettingsResource

    @contextmanager
    def backend(self) -> Iterator[ComputeBackend]:
        settings = self.settings.settings
        with backend_from_settings(settings.compute, settings.workers, settings.dask_address) as backend:
            yield backend
