"""Retraining: a sensor when enough new reviewed images arrived, and a weekly schedule that retrains anyway."""

import dagster as dg

from assets.jobs import retrain_job
from data_engine.stages.train import retrain_backlog
from resources import CatalogResource, EngineSettingsResource, StoreResource
from sensors import engine_sensor


@engine_sensor(
    retrain_job,
    600,
    "Requests a retrain once DATA_ENGINE_RETRAIN_MIN_NEW_IMAGES reviewed images arrived since the "
    "last dataset version and reviews cover enough videos for train, val and test (run key = the latest dataset "
    "version and that count, so a tick never asks twice for the same data).",
)
def retrain_sensor(
    catalog: CatalogResource, store: StoreResource, engine_settings: EngineSettingsResource
) -> dg.SensorResult:
    backlog = retrain_backlog(catalog.catalog, store.store, engine_settings.settings)
    if not backlog.due:
        return dg.SensorResult(skip_reason=backlog.reason)
    run_key = f"retrain-after-{backlog.latest_dataset or 'none'}-{backlog.new_images}"
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=run_key)])


weekly_retrain = dg.ScheduleDefinition(
    name="weekly_retrain",
    job=retrain_job,
    cron_schedule="0 3 * * 1",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description='Every Monday at 03:00: retrain on whatever reviewed labels exist ("just run train.py").',
)
