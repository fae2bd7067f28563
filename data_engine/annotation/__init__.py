"""Annotation platforms: push frames to review with their autolabels, bring the answers back (Label Studio over
REST, or exported task bundles for any tool), and measure what the humans changed."""

from data_engine.annotation.backends import BACKENDS, backend_for, backend_name
from data_engine.annotation.base import (
    AnnotationAuthError,
    AnnotationBackend,
    AnnotationError,
    AnnotationRun,
    AnnotationRunLostError,
    AnnotationUnavailableError,
    FrameToReview,
    PullResult,
    Rejection,
    ReviewedFrame,
    ReviewRequest,
    RunFrame,
    RunProgress,
    frame_key,
)
from data_engine.annotation.bundle import (
    ANSWER_FORMATS,
    BundleBackend,
    BundleError,
    FrameAnswer,
    answer_bundle,
    read_answers,
)
from data_engine.annotation.labelstudio import LabelStudioBackend, LabelStudioConfig
from data_engine.annotation.metrics import ReviewMetrics, frame_changes, plot_per_day, review_metrics
from data_engine.annotation.review import store_reviewed_labels

__all__ = [
    "ANSWER_FORMATS",
    "BACKENDS",
    "AnnotationAuthError",
    "AnnotationBackend",
    "AnnotationError",
    "AnnotationRun",
    "AnnotationRunLostError",
    "AnnotationUnavailableError",
    "BundleBackend",
    "BundleError",
    "FrameAnswer",
    "FrameToReview",
    "LabelStudioBackend",
    "LabelStudioConfig",
    "PullResult",
    "Rejection",
    "ReviewMetrics",
    "ReviewRequest",
    "ReviewedFrame",
    "RunFrame",
    "RunProgress",
    "answer_bundle",
    "backend_for",
    "backend_name",
    "frame_changes",
    "frame_key",
    "plot_per_day",
    "read_answers",
    "review_metrics",
    "store_reviewed_labels",
]
