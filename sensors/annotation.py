"""The annotation sensor: when annotators finish tasks on Label Studio, request a pull (webhooks may miss some)."""

import dagster as dg

from assets.jobs import pull_reviews_job
from data_engine.stages.annotate import import_backlog
from resources import CatalogResource, EngineSettingsResource, StoreResource


@dg.sensor(
    job=pull_reviews_job,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Polls open Label Studio runs; when the number of annotated tasks grew since the last pull, "
    "requests one pull run (run key = the annotated count, cursor = that count).",
)
def annotation_sensor(
    context: dg.SensorEvaluationContext,
    catalog: CatalogResource,
    store: StoreResource,
    engine_settings: EngineSettingsResource,
) -> dg.SensorResult:
    backlog = import_backlog(catalog.catalog, store.store, engine_settings.settings)
    if not backlog:
        return dg.SensorResult(skip_reason="no open Label Studio runs")
    annotated = sum(run.annotated for run in backlog)
    previous = int(context.cursor or 0)
    if annotated <= previous:
        return dg.SensorResult(skip_reason=f"{annotated} tasks annotated, none new since the last pull")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"pull-{annotated}")],
        cursor=str(annotated),
    )
