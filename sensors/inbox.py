"""The inbox sensor: new, settled, de-duplicated videos become one batch partition and one run."""

import json

import dagster as dg

from assets.jobs import process_new_videos
from assets.partitions import ingest_batches
from data_engine.stages.ingest import ingest
from resources import CatalogResource, EngineSettingsResource
from sensors import engine_sensor


@engine_sensor(
    process_new_videos,
    30,
    "Watches DATA_ENGINE_INBOX; waits until a file's size is stable, de-duplicates by content "
    "hash, groups new videos into a batch partition and requests one run per batch (run_key = batch key and "
    "its failed attempts, so a failed batch runs again once due).",
)
def inbox_sensor(
    context: dg.SensorEvaluationContext, catalog: CatalogResource, engine_settings: EngineSettingsResource
) -> dg.SensorResult:
    settings = engine_settings.settings
    cursor = json.loads(context.cursor) if context.cursor else {}
    previous = {uri: (size, mtime) for uri, (size, mtime) in cursor.get("unsettled", {}).items()}
    found = ingest(catalog.catalog, None, settings, previous=previous, origin="sensor")
    look, pending = found.look, found.pending
    context.log.info(
        f"{look.new_files} new settled files, {len(look.unsettled)} still being written, "
        f"{len(look.duplicates)} duplicates, {len(pending)} batches to run"
    )
    attempts = catalog.catalog.batch_attempts(pending)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"ingest-{key}-attempt-{attempts[key]}", partition_key=key) for key in pending
        ],
        dynamic_partitions_requests=[ingest_batches.build_add_request(pending)] if pending else [],
        cursor=json.dumps({"unsettled": look.unsettled, "last_batch": max(pending, default=cursor.get("last_batch"))}),
    )
