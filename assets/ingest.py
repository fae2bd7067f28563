"""Ingest stage: the registered videos of a batch and their frame-exact clips."""

import dagster as dg

from assets.declaration import Check, engine_asset
from assets.metadata import check_results
from assets.steps import step_context
from data_engine.checks import video_clips_checks
from data_engine.stages.ingest import BatchReport
from data_engine.stages.pipeline import CLIP, REGISTER
from resources import CatalogResource, EngineSettingsResource, StoreResource


def _quarantine_table(report: BatchReport) -> dg.MetadataValue:
    rows = "\n".join(f"| {', '.join(v.sources)} | {v.error} |" for v in report.quarantined)
    return dg.MetadataValue.md("| file | reason |\n|---|---|\n" + rows if rows else "none")


@engine_asset(
    "ingest",
    "Videos of an ingest batch, probed from the real stream (true fps and frame count) and "
    "registered in the catalog; unreadable files are quarantined with a reason, never deleted.",
    kinds={"video"},
    per_batch=True,
)
def registered_videos(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    engine_settings: EngineSettingsResource,
) -> dg.MaterializeResult:
    with step_context(context, REGISTER, catalog, store, engine_settings) as stage:
        report = REGISTER.run(stage, context.partition_key)
    registered = [v for v in report.videos if v.status != "quarantined"]
    return dg.MaterializeResult(
        metadata={
            "videos": len(report.videos),
            "registered": len(registered),
            "quarantined": len(report.quarantined),
            "hours_of_video": round(sum(v.duration_s for v in registered) / 3600, 4),
            "frames": sum(v.frames for v in registered),
            "quarantined_files": _quarantine_table(report),
        }
    )


@engine_asset(
    "ingest",
    "Clips of about `clip_seconds`, cut at keyframes by stream copy (re-encoded only where copy "
    "cannot be frame-exact), written atomically, each with a clip.json; every clip starts `extracted`.",
    deps=[registered_videos],
    kinds={"video"},
    per_batch=True,
    checks=[
        Check(
            "frame_conservation", "Every decodable frame of every clipped video is in exactly one clip.", blocking=True
        ),
        Check("no_orphan_files", "No clip file or temporary file in the store without a catalog row."),
    ],
)
def video_clips(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    engine_settings: EngineSettingsResource,
) -> dg.MaterializeResult:
    batch = context.partition_key
    with step_context(context, CLIP, catalog, store, engine_settings) as stage:
        report = CLIP.run(stage, batch)
    return dg.MaterializeResult(
        metadata={**report.summary(), "quarantined_files": _quarantine_table(report)},
        check_results=check_results(video_clips_checks(catalog.catalog, store.store, batch)),
    )
