"""Autolabel stage: hindsight labels for the clips of a batch that mining selected."""

import dagster as dg

from assets.declaration import Check, engine_asset
from assets.metadata import check_results
from assets.mining import annotation_selection
from assets.steps import step_context
from data_engine.checks import autolabel_checks
from data_engine.stages.pipeline import AUTOLABEL
from resources import CatalogResource, ComputeResource, DetectorsResource, EngineSettingsResource, StoreResource


@engine_asset(
    "autolabel",
    "Ultralytics detections on every frame of each selected clip, linked into tracks offline over "
    "the whole clip, gaps filled, spurious tracks dropped, classes voted, two models fused: a new label-file "
    "version per clip and a Parquet table of all boxes of the batch.",
    deps=[annotation_selection],
    kinds={"pytorch"},
    per_batch=True,
    checks=[
        Check(
            "label_files_match_clips",
            "Every processed clip has a label file with one entry per frame, and no clip failed.",
        ),
    ],
)
def autolabels(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    engine_settings: EngineSettingsResource,
    detectors: DetectorsResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    with step_context(context, AUTOLABEL, catalog, store, engine_settings, compute, detectors) as stage:
        report = AUTOLABEL.run(stage, context.partition_key)
    return dg.MaterializeResult(
        metadata={
            "clips": report.clips,
            "frames_processed": report.frames,
            "boxes": report.boxes,
            "tracks": report.tracks,
            "gaps_filled": report.gaps_filled,
            "spurious_tracks_removed": report.spurious_tracks_removed,
            "ms_per_frame": round(report.seconds_per_frame * 1000, 2),
            "model_ids": ", ".join(report.model_ids) or "none",
            "frames_inferred": dg.MetadataValue.json(dict(report.frames_inferred)),
            "failed_clips": len(report.failed),
            "boxes_table": report.boxes_table or "",
            "skipped": report.skipped or "no",
        },
        check_results=check_results(autolabel_checks(report)),
    )
