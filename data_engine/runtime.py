"""The engine's runtime objects built from settings, shared by the CLI and the Dagster resources."""

from dataclasses import dataclass
from functools import cached_property

from data_engine.catalog import Catalog
from data_engine.settings import Settings
from data_engine.store import Store


@dataclass
class Runtime:
    """Lazily opened catalog and store for one set of settings."""

    settings: Settings

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.settings.catalog_url)

    @cached_property
    def store(self) -> Store:
        return Store(self.settings.store)
