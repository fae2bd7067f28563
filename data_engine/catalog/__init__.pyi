"""The names the package exports, read by mypy and by `lazy_loader.attach_stub` in `__init__.py`: each
submodule is imported when one of its names is first used."""

from .catalog import Catalog as Catalog, CatalogError as CatalogError, clip_id_for as clip_id_for
from .models import (
    AnnotationImport as AnnotationImport,
    AnnotationRunRecord as AnnotationRunRecord,
    Batch as Batch,
    BatchItem as BatchItem,
    Clip as Clip,
    ClipEvent as ClipEvent,
    InboxFile as InboxFile,
    LabelVersion as LabelVersion,
    PushedFrame as PushedFrame,
    SelectedFrame as SelectedFrame,
    TriggerHit as TriggerHit,
    Video as Video,
    VideoSource as VideoSource,
)
from .states import ClipState as ClipState, TransitionError as TransitionError, VideoStatus as VideoStatus
