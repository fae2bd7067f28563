"""The engine's Dagster resources for a test: everything under one temporary home, settings given as text."""

from pathlib import Path

import dagster as dg

from resources import EngineSettingsResource, engine_resources


def resources_at(home: Path, catalog_url: str | None = None, **settings: str) -> dict[str, dg.ConfigurableResource]:
    """All resources over one settings resource: `home` holds the catalog (unless `catalog_url`) and the store."""
    given = {"home": str(home), **({"catalog_url": catalog_url} if catalog_url else {}), **settings}
    return engine_resources(EngineSettingsResource(**given))
