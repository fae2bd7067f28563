"""The annotation sensor: pull when annotators finished tasks that are not imported yet (webhooks may miss some)."""

import dagster as dg

from assets.jobs import pull_reviews_job
from data_engine.stages.annotate import import_backlog
from resources import CatalogResource, EngineSettingsResource, StoreResource
from sensors import engine_sensor


@engine_sensor(
    pull_reviews_job,
    120,
    "Asks Label Studio, per open annotation run, how many tasks are annotated, and the catalog how many "
    "of the run's frames are imported; requests one pull when any run has annotations not yet imported. The run "
    "key names each such run with both counts, so it never repeats for new work and never asks twice for the same.",
)
def annotation_sensor(
    catalog: CatalogResource, store: StoreResource, engine_settings: EngineSettingsResource
) -> dg.SensorResult:
    backlog = import_backlog(catalog.catalog, store.store, engine_settings.settings)
    if not backlog:
        return dg.SensorResult(skip_reason="no open Label Studio runs")
    waiting = [run for run in backlog if run.waiting]
    if not waiting:
        annotated = sum(run.annotated for run in backlog)
        return dg.SensorResult(
            skip_reason=f"{len(backlog)} open run(s), {annotated} task(s) annotated, all of them imported"
        )
    run_key = "pull-" + ",".join(f"{run.run_id}:{run.imported}:{run.annotated}" for run in waiting)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                tags={"data_engine/annotations_waiting": str(sum(run.waiting for run in waiting))},
            )
        ]
    )
