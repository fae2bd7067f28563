"""A batch's derived pictures: each clip's trigger timeline and the batch's mining summary.

They are drawn when something shows them (the batch page, the selection asset's metadata in the UI), and only
when missing: selection deletes the pictures its frames change before it records them, so a picture on disk is
never stale and mining itself never draws (matplotlib's import and the PNG writes stay out of `data-engine mine`).
Everything is drawn from the catalog's records, so a lost file comes back the same.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data_engine.catalog import Catalog, Clip
from data_engine.catalog.states import PIPELINE_ORDER
from data_engine.layout import mining_summary_key, timeline_key
from data_engine.plots import batch_summary_png, timeline_png
from data_engine.store import Store

MINED_STATES = frozenset(state.value for state in PIPELINE_ORDER[1:])
"""Clip states past trigger mining: such a clip has hits (or none) to draw on a timeline."""


@dataclass
class BatchPictures:
    """The batch's pictures (local paths) and the store keys this call drew."""

    summary: Path | None = None
    busiest_timeline: Path | None = None
    drawn: list[str] = field(default_factory=list)


def forget_pictures(store: Store, batch_key: str, clips: Sequence[Clip]) -> None:
    """Delete the pictures a new selection in these clips changes (their timelines, the batch summary), so the
    next one to show them draws them from the records."""
    for key in [mining_summary_key(batch_key), *(timeline_key(clip) for clip in clips)]:
        store.delete(key)


def batch_pictures(catalog: Catalog, store: Store, batch_key: str) -> BatchPictures:
    """Draw the batch's missing pictures: the timeline of each mined clip (hits per trigger row, selected frames
    marked) and the batch summary (hits and selected frames per trigger). A batch with nothing missing costs one
    existence check per clip and the read of its hits (the busiest clip's timeline is the one the UI shows)."""
    clips = [clip for clip in catalog.clips(batch_key=batch_key) if clip.status in MINED_STATES]
    if not clips:
        return BatchPictures()
    missing = [clip for clip in clips if not store.exists(timeline_key(clip))]
    summary_key = mining_summary_key(batch_key)
    summary_missing = not store.exists(summary_key)
    hits_by_clip: dict[str, list] = {clip.id: [] for clip in clips}
    for row in catalog.hits(batch_key=batch_key):
        hits_by_clip.setdefault(row.clip_id, []).append(row)
    selected = catalog.selected_frames(batch_key=batch_key) if missing or summary_missing else []
    drawn = []
    for clip in missing:
        hits = hits_by_clip[clip.id]
        timeline_png(
            store.local_path(timeline_key(clip)),
            clip.last_frame - clip.first_frame + 1,
            hits,
            [row.frame for row in selected if row.clip_id == clip.id],
            triggers=sorted({hit.trigger for hit in hits}) or None,
            title=f"clip {clip.id}",
        )
        store.commit(timeline_key(clip))
        drawn.append(timeline_key(clip))
    if summary_missing:
        batch_summary_png(
            store.local_path(summary_key),
            dict(Counter(row.trigger for rows in hits_by_clip.values() for row in rows)),
            dict(Counter(str(row.reasons.get("trigger")) for row in selected)),
            frames_total=sum(clip.last_frame - clip.first_frame + 1 for clip in catalog.clips(batch_key=batch_key)),
            title=f"batch {batch_key}",
        )
        store.commit(summary_key)
        drawn.append(summary_key)
    busiest = max(clips, key=lambda clip: len(hits_by_clip[clip.id]))
    return BatchPictures(store.local_path(summary_key), store.local_path(timeline_key(busiest)), drawn)
