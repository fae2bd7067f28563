"""Where per-clip work runs: in-process, a local process pool or a Dask cluster (DATA_ENGINE_COMPUTE)."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from data_engine.compute import ComputeBackend
from data_engine.runtime import compute_backend
from resources.engine import EngineSettingsResource


class ComputeResource(dg.ConfigurableResource):
    """The compute backend the settings name (`compute`, `workers`, `dask_address`), for expensive per-clip work."""

    settings: EngineSettingsResource

    @contextmanager
    def backend(self) -> Iterator[ComputeBackend]:
        with compute_backend(self.settings.settings) as backend:
            yield backend
