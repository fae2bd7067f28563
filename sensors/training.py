"""Retraining: a sensor when enough new reviewed images arrived, and a weekly schedule that retrains anyway."""

import dagster as dg

from data_engine.datasets import new_reviewed_frames
from data_engine.registry import RetrainingRecords
from resources import CatalogResource, EngineSettingsResource, StoreResource

retrain_job = dg.define_asset_job(
    "retrain",
    selection=dg.AssetSelection.groups("training"),
    description="Build a dataset version, train and evaluate a challenger, run the promotion gate.",
    executor_def=dg.in_process_executor,
)


@dg.sensor(
    job=retrain_job,
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a retrain once DATA_ENGINE_RETRAIN_MIN_NEW_IMAGES reviewed images arrived since the "
    "last dataset version (run key = that count of new images, so a tick never asks twice for the same data).",
)
def retrain_sensor(
    context: dg.SensorEvaluationContext,
    catalog: CatalogResource,
    store: StoreResource,
    engine_settings: EngineSettingsResource,
) -> dg.SensorResult | dg.SkipReason:
    threshold = engine_settings.get().retrain_min_new_images
    fresh = new_reviewed_frames(catalog.catalog, store.store)
    if fresh < threshold:
        return dg.SkipReason(f"{fresh} new reviewed images, retraining at {threshold}")
    latest = RetrainingRecords(catalog.catalog).latest_dataset()
    since = latest.id if latest is not None else "none"
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"retrain-after-{since}-{fresh}")], cursor=str(fresh))


weekly_retrain = dg.ScheduleDefinition(
    name="weekly_retrain",
    job=retrain_job,
    cron_schedule="0 3 * * 1",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description='Every Monday at 03:00: retrain on whatever reviewed labels exist ("just run train.py").',
)
