"""Annotation stage: tasks pushed to annotators and reviewed labels brought back."""

import tempfile
from pathlib import Path

import dagster as dg

from assets.autolabel import autolabels
from assets.pictures import png_markdown
from data_engine.annotation import plot_per_day, review_metrics
from data_engine.stages.annotate import (
    backend_name,
    clips_ready_to_push,
    pull_reviews,
    push_selected,
    review_history,
)
from resources import CatalogResource, DetectorsResource, EngineSettingsResource, StoreResource


@dg.asset(
    group_name="annotation",
    kinds={"python", "labelstudio"},
    deps=[autolabels],
    description="Selected frames of autolabelled clips (selected clips on a cold start) sent to annotators with "
    "the autolabels as pre-annotations: a Label Studio project, or an exported task bundle (Label Studio JSON, "
    "COCO, YOLO and CVAT XML) when DATA_ENGINE_LABEL_STUDIO_URL is not set.",
)
def annotation_tasks(
    catalog: CatalogResource,
    store: StoreResource,
    engine_settings: EngineSettingsResource,
    detectors: DetectorsResource,
) -> dg.MaterializeResult:
    settings = engine_settings.get()
    clips = clips_ready_to_push(catalog.catalog, cold_start=not detectors.get(catalog.catalog, store.store))
    report = push_selected(catalog.catalog, store.store, settings, clips, backend=backend_name(settings))
    return dg.MaterializeResult(
        metadata={
            "frames_pushed": report.frames,
            "clips_pushed": report.clips,
            "with_pre_annotations": report.with_pre_annotations,
            "backend": report.backend or backend_name(settings),
            "project": dg.MetadataValue.url(report.project_url)
            if report.project_url.startswith("http")
            else (report.project_url or "nothing new to push"),
        }
    )


@dg.asset(
    group_name="annotation",
    kinds={"python", "labelstudio"},
    deps=[annotation_tasks],
    description="Reviewed labels pulled from Label Studio, validated (known labels, boxes inside the image) and "
    "stored as a new label-file version per clip; annotation throughput and how much humans changed the autolabels.",
)
def reviewed_labels(
    catalog: CatalogResource, store: StoreResource, engine_settings: EngineSettingsResource
) -> dg.MaterializeResult:
    report = pull_reviews(catalog.catalog, store.store, engine_settings.get())
    metrics = review_metrics(review_history(catalog.catalog, store.store))
    metadata: dict[str, object] = {
        "frames_reviewed": report.frames_reviewed,
        "label_versions_written": report.label_versions_written,
        "clips_annotated": report.clips_annotated,
        "boxes_rejected": report.boxes_rejected,
        "frames_pending": report.pending,
        "tasks_missing": report.missing,
        "review_metrics": dg.MetadataValue.md(metrics.markdown()),
    }
    if metrics.per_annotator_day:
        with tempfile.TemporaryDirectory() as scratch:
            picture = Path(plot_per_day(metrics, str(Path(scratch) / "throughput.png")))
            metadata["annotation_throughput_per_day"] = png_markdown(picture, "images reviewed per day")
    return dg.MaterializeResult(metadata=metadata)
