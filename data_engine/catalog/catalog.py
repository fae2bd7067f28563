"""The catalog: the source of truth for per-video and per-clip state (SQLite or PostgreSQL).

`Catalog` is one object over the concern modules, each a class of the methods on its tables, so callers keep
calling `catalog.method(...)`: videos (inbox, batches, videos), clips (states and events), mining (hits, selected
frames), leases (claims, and the stage records that write results and a move in one transaction on a held clip),
annotation (label versions, annotation runs, imports); all build on database, the connection and its sessions.
"""

from data_engine.catalog.annotation import AnnotationRecords
from data_engine.catalog.clips import clip_id_for
from data_engine.catalog.database import CatalogError
from data_engine.catalog.leases import WorkLeases
from data_engine.catalog.videos import VideoRecords

__all__ = ["Catalog", "CatalogError", "clip_id_for"]


class Catalog(VideoRecords, WorkLeases, AnnotationRecords):
    """Typed access to the catalog tables; every write is one short transaction."""
