"""Annotation and training definitions: groups, the gpu pool, sensors that skip with a reason, the schedule."""

from pathlib import Path

import dagster as dg

from assets.training import champion_model
from definitions import defs
from resources import CatalogResource, EngineSettingsResource, StoreResource


def _resources(tmp_path: Path) -> dict[str, object]:
    return {
        "catalog": CatalogResource(url=f"sqlite:///{tmp_path / 'catalog.db'}"),
        "store": StoreResource(root=str(tmp_path / "store")),
        "engine_settings": EngineSettingsResource(),
    }


def test_stage_groups_pool_and_gate_check() -> None:
    groups = {
        defs.resolve_assets_def(key).group_names_by_key[key] for key in defs.resolve_asset_graph().get_all_asset_keys()
    }
    assert groups == {"ingest", "mining", "autolabel", "annotation", "training"}
    candidate = defs.resolve_assets_def("candidate_model")
    assert candidate.op.pool == "gpu"
    (gate,) = candidate.check_specs
    assert gate.name == "promotion_gate" and gate.blocking
    assert defs.resolve_schedule_def("weekly_retrain").cron_schedule == "0 3 * * 1"


def test_sensors_skip_with_a_reason_when_there_is_nothing_to_do(tmp_path: Path) -> None:
    for name, reason in (("retrain_sensor", "new reviewed images"), ("annotation_sensor", "no open Label Studio")):
        with dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(), resources=_resources(tmp_path)
        ) as context:
            result = defs.resolve_sensor_def(name)(context)
        assert isinstance(result, dg.SkipReason) and reason in result.skip_message


def test_champion_model_says_when_there_is_none_yet(tmp_path: Path) -> None:
    result = dg.materialize([champion_model], resources=_resources(tmp_path))
    assert result.success
    assert result.asset_materializations_for_node("champion_model")[0].metadata["champion"].value == "none yet"
