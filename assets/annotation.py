"""Annotation stage: tasks pushed to annotators and reviewed labels brought back."""

import dagster as dg

from assets.autolabel import autolabels
from assets.declaration import engine_asset
from assets.metadata import pictures
from assets.steps import step_context
from data_engine.stages.annotate import pull_and_summarise
from data_engine.stages.pipeline import PUSH
from resources import CatalogResource, DetectorsResource, EngineSettingsResource, StoreResource


@engine_asset(
    "annotation",
    "Selected frames of autolabelled clips (selected clips on a cold start) sent to annotators with "
    "the autolabels as pre-annotations: a Label Studio project, or an exported task bundle (Label Studio JSON, "
    "COCO, YOLO and CVAT XML) when DATA_ENGINE_LABEL_STUDIO_URL is not set. Ends every process_new_videos run; "
    "one push at a time (pool annotation_push), so two batches never push the same clip.",
    deps=[autolabels],
    kinds={"labelstudio"},
    pool="annotation_push",
)
def annotation_tasks(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    engine_settings: EngineSettingsResource,
    detectors: DetectorsResource,
) -> dg.MaterializeResult:
    with step_context(context, PUSH, catalog, store, engine_settings, detectors=detectors) as stage:
        report = PUSH.run(stage)
    project = report.project_url or "nothing new to push"
    return dg.MaterializeResult(
        metadata={
            "frames_pushed": report.frames,
            "clips_pushed": report.clips,
            "with_pre_annotations": report.with_pre_annotations,
            "backend": report.annotation_backend,
            "annotation_run": report.run_id or "none",
            "project": dg.MetadataValue.url(project) if project.startswith("http") else project,
            **{f"report {page.parent.name}": dg.MetadataValue.path(str(page)) for page in report.report_pages},
        }
    )


@engine_asset(
    "annotation",
    "Reviewed labels pulled from Label Studio, validated (known labels, boxes inside the image) and "
    "stored as a new label-file version per clip; annotation throughput and how much humans changed the autolabels.",
    deps=[annotation_tasks],
    kinds={"labelstudio"},
)
def reviewed_labels(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    engine_settings: EngineSettingsResource,
) -> dg.MaterializeResult:
    summary = pull_and_summarise(catalog.catalog, store.store, engine_settings.settings, run_id=context.run.run_id)
    report = summary.report
    return dg.MaterializeResult(
        metadata={
            "annotation_runs": ", ".join(report.runs) or "none open",
            "frames_reviewed": report.frames_reviewed,
            "label_versions_written": report.label_versions_written,
            "clips_annotated": report.clips_annotated,
            "boxes_rejected": report.boxes_rejected,
            "frames_pending": report.pending,
            "tasks_missing": report.missing,
            "review_metrics": dg.MetadataValue.md(summary.metrics.markdown()),
            **pictures(annotation_throughput_per_day=summary.throughput_picture),
        }
    )
