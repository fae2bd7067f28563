"""The names the package exports, read by mypy and by `lazy_loader.attach_stub` in `__init__.py`: each
submodule is imported when one of its names is first used."""

from .backends import BACKENDS as BACKENDS, backend_for as backend_for, backend_name as backend_name
from .base import (
    AnnotationAuthError as AnnotationAuthError,
    AnnotationBackend as AnnotationBackend,
    AnnotationError as AnnotationError,
    AnnotationRun as AnnotationRun,
    AnnotationRunLostError as AnnotationRunLostError,
    AnnotationUnavailableError as AnnotationUnavailableError,
    FrameToReview as FrameToReview,
    PullResult as PullResult,
    Rejection as Rejection,
    ReviewedFrame as ReviewedFrame,
    ReviewRequest as ReviewRequest,
    RunFrame as RunFrame,
    RunProgress as RunProgress,
    frame_key as frame_key,
)
from .bundle import (
    ANSWER_FORMATS as ANSWER_FORMATS,
    BundleBackend as BundleBackend,
    BundleError as BundleError,
    FrameAnswer as FrameAnswer,
    answer_bundle as answer_bundle,
    read_answers as read_answers,
)
from .labelstudio import LabelStudioBackend as LabelStudioBackend, LabelStudioConfig as LabelStudioConfig
from .metrics import (
    ReviewMetrics as ReviewMetrics,
    frame_changes as frame_changes,
    plot_per_day as plot_per_day,
    review_metrics as review_metrics,
)
from .review import store_reviewed_labels as store_reviewed_labels
