"""Where per-clip work runs: in-process, a local process pool or a Dask cluster (DATA_ENGINE_COMPUTE)."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from data_engine.compute import ComputeBackend, backend_from_settings
from data_engine.settings import Settings


class ComputeResource(dg.ConfigurableResource):
    """The compute backend for expensive per-clip work; unset fields come from the DATA_ENGINE_* environment."""

    kind: str | None = None
    workers: int | None = None
    dask_address: str | None = None

    @contextmanager
    def backend(self) -> Iterator[ComputeBackend]:
        settings = Settings.from_env()
        with backend_from_settings(
            self.kind or settings.compute,
            self.workers or settings.workers,
            self.dask_address or settings.dask_address,
        ) as backend:
            yield backend
