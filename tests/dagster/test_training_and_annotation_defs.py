"""Annotation and training definitions: groups, the gpu pool, the leakage check, sensors that skip with a reason,
the schedule."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from assets.training import champion_model
from definitions import defs
from tests.dagster.engine import resources_at


def test_stage_groups_pool_and_blocking_leakage_check() -> None:
    groups = {
        defs.resolve_assets_def(key).group_names_by_key[key] for key in defs.resolve_asset_graph().get_all_asset_keys()
    }
    assert groups == {"ingest", "mining", "autolabel", "annotation", "training"}
    candidate = defs.resolve_assets_def("candidate_model")
    assert candidate.op.pool == "gpu"
    assert not candidate.check_specs, "the gate's decision is metadata, not a failing check"
    (leakage,) = defs.resolve_assets_def("training_dataset").check_specs
    assert leakage.name == "no_leakage" and leakage.blocking
    assert defs.resolve_schedule_def("weekly_retrain").cron_schedule == "0 3 * * 1"


def test_sensors_skip_with_a_reason_when_there_is_nothing_to_do(tmp_path: Path) -> None:
    for name, reason in (
        ("retrain_sensor", "train, val and test need 3"),
        ("annotation_sensor", "no open Label Studio"),
    ):
        with dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(), resources=resources_at(tmp_path)
        ) as context:
            result = defs.resolve_sensor_def(name)(context)
        assert isinstance(result, dg.SensorResult) and not result.run_requests
        assert result.skip_reason is not None and reason in (result.skip_reason.skip_message or "")


def test_champion_model_says_when_there_is_none_yet(tmp_path: Path) -> None:
    result = dg.materialize([champion_model], resources=resources_at(tmp_path))
    assert result.success
    assert result.asset_materializations_for_node("champion_model")[0].metadata["champion"].value == "none yet"


def test_the_weekly_schedule_asks_for_the_retrain_job() -> None:
    schedule = defs.resolve_schedule_def("weekly_retrain")
    with dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 30, 3, tzinfo=UTC)) as context:
        (request,) = schedule.evaluate_tick(context).run_requests or []
    assert schedule.job_name == "retrain" and request.run_key is None
    assert defs.resolve_job_def("retrain").asset_layer.selected_asset_keys == {
        dg.AssetKey(name) for name in ("training_dataset", "candidate_model", "champion_model")
    }
