"""Autolabel stage: hindsight labels for the clips of a batch that mining selected."""

import dagster as dg

from assets.mining import annotation_selection
from assets.partitions import ingest_batches
from data_engine.autolabel import read_labels
from data_engine.catalog import ClipState
from data_engine.stages.autolabel import autolabel_clips
from resources import CatalogResource, ComputeResource, DetectorsResource, StoreResource


@dg.asset(
    partitions_def=ingest_batches,
    group_name="autolabel",
    kinds={"python", "pytorch"},
    deps=[annotation_selection],
    description="Ultralytics detections on every frame of each selected clip, linked into tracks offline over "
    "the whole clip, gaps filled, spurious tracks dropped, classes voted, two models fused: a new label-file "
    "version per clip and a Parquet table of all boxes of the batch.",
    check_specs=[
        dg.AssetCheckSpec(
            "label_files_match_clips",
            asset="autolabels",
            description="Every processed clip has a readable label file with one entry per frame.",
        ),
    ],
)
def autolabels(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    detectors: DetectorsResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    batch = context.partition_key
    clips = catalog.catalog.clips(batch_key=batch, status=ClipState.SELECTED)
    in_use = detectors.get(catalog.catalog, store.store)
    if not in_use or not clips:
        reason = "no detector configured and no champion yet" if clips else "no selected clips in this batch"
        return dg.MaterializeResult(
            metadata={"clips": 0, "skipped": reason},
            check_results=[
                dg.AssetCheckResult(check_name="label_files_match_clips", passed=True, metadata={"checked": 0})
            ],
        )
    with compute.backend() as backend:
        report = autolabel_clips(
            catalog.catalog,
            store.store,
            in_use,
            clips,
            run_id=context.run.run_id,
            parquet_key=f"batches/{batch}/autolabel_boxes.parquet",
            progress=lambda clip_id: context.log.debug(f"autolabelled {clip_id}"),
            backend=backend,
        )
    by_id = {clip.id: clip for clip in clips}
    mismatched = [
        clip_id
        for clip_id, key in report.label_keys.items()
        if read_labels(store.store.fetch(key)).frame_count != by_id[clip_id].last_frame - by_id[clip_id].first_frame + 1
    ]
    return dg.MaterializeResult(
        metadata={
            "clips": report.clips,
            "frames_processed": report.frames,
            "boxes": report.boxes,
            "tracks": report.tracks,
            "gaps_filled": report.gaps_filled,
            "spurious_tracks_removed": report.spurious_tracks_removed,
            "ms_per_frame": round(report.seconds_per_frame * 1000, 2),
            "model_ids": ", ".join(report.model_ids),
            "frames_inferred": dg.MetadataValue.json(dict(report.frames_inferred)),
            "failed_clips": len(report.failed),
            "boxes_table": report.parquet_key or "",
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="label_files_match_clips",
                passed=not mismatched and not report.failed,
                metadata={
                    "checked": len(report.label_keys),
                    "mismatched": len(mismatched),
                    "failed": len(report.failed),
                },
            )
        ],
    )
