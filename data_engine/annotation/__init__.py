"""Annotation platforms: push selected frames with their autolabels, pull reviewed labels back (Label Studio over
REST, or exported task bundles for any tool), and measure what the humans changed."""

from data_engine.annotation.base import (
    AnnotationAuthError,
    AnnotationBackend,
    AnnotationError,
    AnnotationRun,
    AnnotationUnavailableError,
    PullResult,
    Rejection,
    ReviewedFrame,
    RunFrame,
    RunStatus,
    SelectedFrame,
    Selection,
    frame_key,
)
from data_engine.annotation.bundle import BundleError, FileReport, ImportReport, export_bundle, import_annotations
from data_engine.annotation.labelstudio import LabelStudioBackend, LabelStudioConfig, labeling_config
from data_engine.annotation.metrics import ReviewMetrics, frame_changes, plot_per_day, review_metrics
from data_engine.annotation.review import store_reviewed_labels

__all__ = [
    "AnnotationAuthError",
    "AnnotationBackend",
    "AnnotationError",
    "AnnotationRun",
    "AnnotationUnavailableError",
    "BundleError",
    "FileReport",
    "ImportReport",
    "LabelStudioBackend",
    "LabelStudioConfig",
    "PullResult",
    "Rejection",
    "ReviewMetrics",
    "ReviewedFrame",
    "RunFrame",
    "RunStatus",
    "SelectedFrame",
    "Selection",
    "export_bundle",
    "frame_changes",
    "frame_key",
    "import_annotations",
    "labeling_config",
    "plot_per_day",
    "review_metrics",
    "store_reviewed_labels",
]
