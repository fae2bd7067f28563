"""The per-clip catalog (SQLAlchemy 2.0, Alembic migrations)."""

from data_engine.catalog.catalog import Catalog, CatalogError, clip_id_for
from data_engine.catalog.models import Batch, BatchItem, Clip, ClipEvent, InboxFile, Video, VideoSource
from data_engine.catalog.states import ClipState, TransitionError, VideoStatus

__all__ = [
    "Batch",
    "BatchItem",
    "Catalog",
    "CatalogError",
    "Clip",
    "ClipEvent",
    "ClipState",
    "InboxFile",
    "TransitionError",
    "Video",
    "VideoSource",
    "VideoStatus",
    "clip_id_for",
]
