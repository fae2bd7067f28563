"""Mining stage: frame features, trigger hits and the annotation selection of each batch."""

import dagster as dg

from assets.ingest import video_clips
from assets.metadata import check_results, clip_states_table, pictures
from assets.partitions import ingest_batches
from data_engine.checks import selection_checks
from data_engine.stages.mine import MiningConfig, compute_batch_features, mine_batch_triggers, select_batch
from resources import CatalogResource, ComputeResource, DetectorsResource, EngineSettingsResource, StoreResource


@dg.asset(
    partitions_def=ingest_batches,
    group_name="mining",
    kinds={"python", "parquet"},
    deps=[video_clips],
    description="Per-frame features of every new clip (brightness, contrast, frame difference, sharpness, "
    "perceptual hash) from one decoding pass of the luma plane, stored as Parquet beside the clip.",
)
def frame_features(
    context: dg.AssetExecutionContext, catalog: CatalogResource, store: StoreResource, compute: ComputeResource
) -> dg.MaterializeResult:
    with compute.backend() as backend:
        report = compute_batch_features(
            catalog.catalog, store.store, context.partition_key, backend, run_id=context.run.run_id
        )
    return dg.MaterializeResult(
        metadata={
            "clips": report.clips,
            "frames": report.frames,
            "seconds_of_video": round(report.seconds_of_video, 1),
            "failed_clips": len(report.failed),
        }
    )


@dg.asset(
    partitions_def=ingest_batches,
    group_name="mining",
    kinds={"python"},
    deps=[frame_features],
    description="Trigger hits of every clip: lighting flicker, glitches, cuts, frozen stretches and, with a "
    "detector, detection flicker, temporal inconsistency and model disagreement. One catalog row per hit.",
)
def trigger_hits(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    detectors: DetectorsResource,
    engine_settings: EngineSettingsResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    with compute.backend() as backend:
        report = mine_batch_triggers(
            catalog.catalog,
            store.store,
            context.partition_key,
            detectors.detectors,
            config=MiningConfig.from_settings(engine_settings.settings),
            run_id=context.run.run_id,
            backend=backend,
        )
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


@dg.asset(
    partitions_def=ingest_batches,
    group_name="mining",
    kinds={"python"},
    deps=[trigger_hits],
    description="Frames chosen for annotation under the daily budget: per-trigger quotas, no near-duplicates "
    "(perceptual-hash distance) of frames selected before, spread over clips and videos, each with its reasons.",
    check_specs=[
        dg.AssetCheckSpec(
            "within_budget",
            asset="annotation_selection",
            blocking=True,
            description="No day has more selected frames than the budget.",
        ),
        dg.AssetCheckSpec(
            "no_near_duplicates",
            asset="annotation_selection",
            description="No two frames selected in this batch are within the duplicate distance.",
        ),
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
    config = MiningConfig.from_settings(engine_settings.settings)
    report = select_batch(
        catalog.catalog,
        store.store,
        batch,
        config=config,
        cold_start=not detectors.detectors,
        run_id=context.run.run_id,
    )
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
            **pictures(hits_per_trigger=report.summary_picture, trigger_timeline=report.busiest_timeline),
        },
        check_results=check_results(selection_checks(catalog.catalog, report, config, batch)),
    )
