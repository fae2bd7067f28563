"""The engine's runtime objects built from settings, shared by the CLI, the stages and the Dagster resources.

Imports of the catalog, the store and the compute backends happen on first use, so a command that needs none
of them (`data-engine --help`) starts quickly.
"""

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from data_engine.settings import Settings

if TYPE_CHECKING:
    from data_engine.catalog import Catalog
    from data_engine.compute import ComputeBackend
    from data_engine.store import Store


def compute_backend(settings: Settings) -> "ComputeBackend":
    """The compute backend the settings name (DATA_ENGINE_COMPUTE, _WORKERS, _DASK_ADDRESS): the one place where
    settings become a backend. Use it as a context manager, so pool processes and cluster connections close."""
    from data_engine.compute import backend_from_settings

    return backend_from_settings(settings.compute, settings.workers, settings.dask_address)


@dataclass
class Runtime:
    """Lazily opened catalog and store for one set of settings."""

    settings: Settings

    @cached_property
    def checked(self) -> Settings:
        """The settings, once `preflight.check_settings` found that they can work: run before the catalog or the
        store opens, so a bad configuration stops a command before its first write."""
        from data_engine.preflight import check_settings

        check_settings(self.settings)
        return self.settings

    @cached_property
    def catalog(self) -> "Catalog":
        from data_engine.catalog import Catalog

        return Catalog(self.checked.catalog_url)

    @cached_property
    def store(self) -> "Store":
        from data_engine.store import Store

        store = Store(self.checked.store)
        store.remove_stale_temporaries()  # what a killed command left, before this one writes
        return store
