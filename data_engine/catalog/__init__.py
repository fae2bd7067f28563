"""The per-clip catalog (SQLAlchemy 2.0, Alembic migrations).

The states are imported at once (plain enums, cheap); the catalog and its tables load on first use, so that a
command that only names states (`data-engine clips --help`) does not pay for SQLAlchemy.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from data_engine.catalog.states import ClipState, TransitionError, VideoStatus

if TYPE_CHECKING:
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

_LAZY = {
    **dict.fromkeys(("Catalog", "CatalogError", "clip_id_for"), "data_engine.catalog.catalog"),
    **dict.fromkeys(
        (
            "AnnotationImport",
            "AnnotationRunRecord",
            "Batch",
            "BatchItem",
            "Clip",
            "ClipEvent",
            "InboxFile",
            "LabelVersion",
            "PushedFrame",
            "SelectedFrame",
            "TriggerHit",
            "Video",
            "VideoSource",
        ),
        "data_engine.catalog.models",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
