"""The annotation sensor: when annotators finish tasks on Label Studio, request a pull (webhooks may miss some)."""

import dagster as dg

from data_engine.stages.annotate import annotation_progress
from resources import CatalogResource, EngineSettingsResource, StoreResource

pull_reviews_job = dg.define_asset_job(
    "pull_reviewed_labels",
    selection=dg.AssetSelection.assets("reviewed_labels"),
    description="Bring reviewed labels back from the annotation platform.",
)


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
) -> dg.SensorResult | dg.SkipReason:
    annotated = annotation_progress(catalog.catalog, store.store, engine_settings.get())
    if annotated is None:
        return dg.SkipReason("no open Label Studio runs")
    previous = int(context.cursor or 0)
    if annotated <= previous:
        return dg.SkipReason(f"{annotated} tasks annotated, none new since the last pull")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"pull-{annotated}")],
        cursor=str(annotated),
    )
