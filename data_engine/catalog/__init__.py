"""The per-clip catalog (SQLAlchemy 2.0, Alembic migrations)."""

from data_engine.catalog.catalog import Catalog, CatalogError, clip_id_for
from data_engine.catalog.models import (
    AnnotationImport,
    AnnotationRunRecord,
    Batch,
    BatchItem,
    Clip,
    ClipEvent,
    InboxFile,
    LabelVersion,
    PushedFrame,
    SelectedFrame,
    TriggerHit,
    Video,
    VideoSource,
)
from data_engine.catalog.states import ClipState, TransitionError, VideoStatus

__all__ = [
    "AnnotationImport",
    "AnnotationRunRecord",
    "Batch",
    "BatchItem",
    "Catalog",
    "CatalogError",
    "Clip",
    "ClipEvent",
    "ClipState",
    "InboxFile",
    "LabelVersion",
    "PushedFrame",
    "SelectedFrame",
    "TransitionError",
    "TriggerHit",
    "Video",
    "VideoSource",
    "VideoStatus",
    "clip_id_for",
]
