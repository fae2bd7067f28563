"""Mining stage: frame features, trigger hits and the annotation selection of each batch."""

import dagster as dg

from assets.declaration import Check, engine_asset
from assets.ingest import video_clips
from assets.metadata import check_results, clip_states_table, pictures
from assets.steps import step_context
from data_engine.checks import selection_checks
from data_engine.stages.pipeline import FEATURES, SELECTION, TRIGGERS
from resources import CatalogResource, ComputeResource, DetectorsResource, EngineSettingsResource, StoreResource


@engine_asset(
    "mining",
    "Per-frame features of every new clip (brightness, contrast, frame difference, sharpness, "
    "perceptual hash) from one decoding pass of the luma plane, stored as Parquet beside the clip.",
    deps=[video_clips],
    kinds={"parquet"},
    per_batch=True,
)
def frame_features(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    engine_settings: EngineSettingsResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    with step_context(context, FEATURES, catalog, store, engine_settings, compute) as stage:
        report = FEATURES.run(stage, context.partition_key)
    return dg.MaterializeResult(
        metadata={
            "clips": report.clips,
            "frames": report.frames,
            "seconds_of_video": round(report.seconds_of_video, 1),
            "failed_clips": len(report.failed),
        }
    )


@engine_asset(
    "mining",
    "Trigger hits of every clip: lighting flicker, glitches, cuts, frozen stretches and, with a "
    "detector, detection flicker, temporal inconsistency and model disagreement. One catalog row per hit.",
    deps=[frame_features],
    per_batch=True,
)
def trigger_hits(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    detectors: DetectorsResource,
    engine_settings: EngineSettingsResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    with step_context(context, TRIGGERS, catalog, store, engine_settings, compute, detectors) as stage:
        report = TRIGGERS.run(stage, context.partition_key)
    return dg.MaterializeResult(
        metadata={
            "clips_mined": report.clips,
            "hits": sum(report.per_trigger.values()),
            "hits_per_trigger": dg.MetadataValue.json(dict(report.per_trigger)),
            "models": ", ".join(report.model_ids) or "none (image-level triggers only)",
            "frames_inferred": dg.MetadataValue.json(dict(report.frames_inferred)),
            "failed_clips": len(report.failed),
        }
    )


@engine_asset(
    "mining",
    "Frames chosen for annotation under the daily budget: per-trigger quotas, no near-duplicates "
    "(perceptual-hash distance) of frames selected before, spread over clips and videos, each with its reasons.",
    deps=[trigger_hits],
    per_batch=True,
    checks=[
        Check("within_budget", "No day has more selected frames than the budget.", blocking=True),
        Check("no_near_duplicates", "No two frames selected in this batch are within the duplicate distance."),
    ],
)
def annotation_selection(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    detectors: DetectorsResource,
    engine_settings: EngineSettingsResource,
) -> dg.MaterializeResult:
    batch = context.partition_key
    with step_context(context, SELECTION, catalog, store, engine_settings, detectors=detectors) as stage:
        report = SELECTION.run(stage, batch)
    return dg.MaterializeResult(
        metadata={
            "frames_selected": report.selected,
            "clips_selected": report.clips_selected,
            "candidates": report.candidates,
            "near_duplicates_skipped": report.duplicates_skipped,
            "selected_per_trigger": dg.MetadataValue.json(report.per_trigger),
            "budget_day": report.budget_day,
            "budget_used_today": report.budget_used,
            "cold_start": report.cold_start,
            "clips": clip_states_table(report.clip_rows),
            **pictures(hits_per_trigger=report.pictures.summary, trigger_timeline=report.pictures.busiest_timeline),
        },
        check_results=check_results(selection_checks(catalog.catalog, report, batch)),
    )
