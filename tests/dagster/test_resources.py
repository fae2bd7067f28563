"""One configuration path: every setting is a field of the settings resource, bound to its DATA_ENGINE_* variable
with dg.EnvVar, parsed once by the engine's own parser, and shared by the nested catalog, store, compute and
detector resources."""

from dataclasses import fields
from pathlib import Path

import dagster as dg
import pytest

from data_engine.settings import Settings
from resources import (
    CatalogResource,
    ComputeResource,
    DetectorsResource,
    EngineSettingsResource,
    StoreResource,
    engine_resources,
)


def test_every_setting_is_a_field_of_the_settings_resource() -> None:
    assert set(EngineSettingsResource.model_fields) == {spec.name for spec in fields(Settings)} | {"config"}


def test_environment_variables_are_bound_and_parsed_once_for_every_resource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATA_ENGINE_CLIP_SECONDS", "3")
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_TOKEN", "not-in-the-ui")
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    settings = EngineSettingsResource.from_environment()
    assert (
        isinstance(settings.clip_seconds, dg.EnvVar)
        and settings.clip_seconds.env_var_name == "DATA_ENGINE_CLIP_SECONDS"
    )
    assert isinstance(settings.label_studio_token, dg.EnvVar), "a secret is shown by its variable's name only"
    assert settings.budget_per_day is None, "unset: the engine's default"
    parsed: list[Settings] = []
    original = Settings.from_env.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Settings], *args: object, **kwargs: object) -> Settings:
        parsed.append(original(cls, *args, **kwargs))
        return parsed[-1]

    monkeypatch.setattr(Settings, "from_env", classmethod(counting))
    seen: dict[str, object] = {}

    @dg.asset
    def probe(
        engine_settings: EngineSettingsResource,
        catalog: CatalogResource,
        store: StoreResource,
        compute: ComputeResource,
        detectors: DetectorsResource,
    ) -> None:
        seen["clip_seconds"] = {engine_settings.settings.clip_seconds, engine_settings.settings.clip_seconds}
        seen["catalog"] = catalog.catalog.schema_revision() is not None
        seen["store"] = store.store.root
        with compute.backend() as backend:
            seen["compute"] = backend.kind
        seen["detectors"] = detectors.detectors

    assert dg.materialize([probe], resources=engine_resources(settings)).success
    assert seen == {
        "clip_seconds": {3.0},
        "catalog": True,
        "store": str(tmp_path / "home" / "store"),
        "compute": "inprocess",
        "detectors": [],
    }
    assert len(parsed) == 1, "parsed once for all the resources that hold the settings, never per call"
    assert (tmp_path / "home" / "catalog.db").is_file()


def test_a_resource_value_wins_over_the_toml_file(tmp_path: Path) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text("[data_engine]\nbudget_per_day = 7\nclip_seconds = 4\n")
    resource = EngineSettingsResource(config=str(toml), home=str(tmp_path), clip_seconds="2")
    assert (resource.settings.budget_per_day, resource.settings.clip_seconds) == (7, 2.0)
    assert resource.settings is resource.settings, "built once"
