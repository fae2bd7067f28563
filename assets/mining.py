"""Mining stage: frame features, trigger hits and the annotation selection of each batch."""

import dagster as dg
import numpy as np

from assets.ingest import video_clips
from assets.partitions import ingest_batches
from assets.pictures import clip_states_table, png_markdown
from data_engine.mining.features import hamming
from data_engine.reports.html import batch_report
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
        report = compute_batch_features(catalog.catalog, store.store, context.partition_key, backend)
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
) -> dg.MaterializeResult:
    report = mine_batch_triggers(
        catalog.catalog,
        store.store,
        context.partition_key,
        detectors.get(catalog.catalog, store.store),
        config=MiningConfig(budget_per_day=engine_settings.get().budget_per_day),
        run_id=context.run.run_id,
    )
    return dg.MaterializeResult(
        metadata={
            "clips_mined": report.clips,
            "hits": sum(report.per_trigger.values()),
            "hits_per_trigger": dg.MetadataValue.json(dict(report.per_trigger)),
            "models": ", ".join(report.model_ids) or "none (image-level triggers only)",
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
    config = MiningConfig(budget_per_day=engine_settings.get().budget_per_day)
    report = select_batch(
        catalog.catalog,
        store.store,
        context.partition_key,
        config=config,
        cold_start=not detectors.get(catalog.catalog, store.store),
        run_id=context.run.run_id,
    )
    used = catalog.catalog.selected_count(report.budget_day)
    pictures = {}
    if report.summary_png:
        pictures["hits_per_trigger"] = png_markdown(store.store.fetch(report.summary_png), "hits per trigger")
    busiest = max(report.timelines, key=lambda clip_id: len(catalog.catalog.hits(clip_id=clip_id)), default=None)
    if busiest is not None:
        pictures["trigger_timeline"] = png_markdown(store.store.fetch(report.timelines[busiest]), busiest)
    frames = catalog.catalog.selected_frames(batch_key=context.partition_key)
    closest = _closest_pair_distance([frame.phash for frame in frames])
    return dg.MaterializeResult(
        metadata={
            "frames_selected": report.selected,
            "clips_selected": report.clips_selected,
            "candidates": report.candidates,
            "near_duplicates_skipped": report.duplicates_skipped,
            "selected_per_trigger": dg.MetadataValue.json(report.per_trigger),
            "budget_day": report.budget_day,
            "budget_used_today": used,
            "cold_start": report.cold_start,
            "clips": clip_states_table(catalog.catalog, context.partition_key),
            "report": dg.MetadataValue.path(str(batch_report(catalog.catalog, store.store, context.partition_key))),
            **pictures,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="within_budget",
                passed=used <= config.budget_per_day,
                metadata={"used": used, "budget": config.budget_per_day},
            ),
            dg.AssetCheckResult(
                check_name="no_near_duplicates",
                passed=closest is None or closest > config.duplicate_distance,
                metadata={"closest_pair_bits": closest if closest is not None else -1},
            ),
        ],
    )


def _closest_pair_distance(hashes: list[int]) -> int | None:
    if len(hashes) < 2:
        return None
    values = np.array(hashes, dtype=np.uint64)
    distances = hamming(values[:, None], values[None, :])
    np.fill_diagonal(distances, 65)
    return int(distances.min())
