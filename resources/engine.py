"""Catalog, store and settings resources. Unset fields fall back to the DATA_ENGINE_* environment."""

from dataclasses import replace

import dagster as dg
from pydantic import PrivateAttr

from data_engine.catalog import Catalog
from data_engine.settings import Settings
from data_engine.store import Store


class EngineSettingsResource(dg.ConfigurableResource):
    """The engine's settings (clip length, batch size, inbox, ...) read from DATA_ENGINE_* variables."""

    inbox: str | None = None
    clip_seconds: float | None = None
    batch_max_videos: int | None = None
    settle_seconds: float | None = None
    budget_per_day: int | None = None

    def get(self) -> Settings:
        overrides = {name: value for name, value in self.model_dump().items() if value is not None}
        base = Settings.from_env()
        return replace(base, **overrides)


class CatalogResource(dg.ConfigurableResource):
    """The per-clip catalog; `url` is any SQLAlchemy URL (default: DATA_ENGINE_CATALOG_URL or SQLite in home)."""

    url: str | None = None
    _catalog: Catalog | None = PrivateAttr(default=None)

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.url or Settings.from_env().catalog_url)
        return self._catalog

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._catalog is not None:
            self._catalog.dispose()


class StoreResource(dg.ConfigurableResource):
    """Where clips, labels and models live: a local folder or an fsspec URL (default: DATA_ENGINE_STORE)."""

    root: str | None = None
    _store: Store | None = PrivateAttr(default=None)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.root or Settings.from_env().store)
        return self._store
