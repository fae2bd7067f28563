"""A batch's derived pictures: each clip's trigger timeline and the batch's mining summary.

They are drawn when something shows them (the batch page, the selection asset's metadata in the UI), and only
when missing: selection deletes the pictures its frames change before it records them, so a picture on disk is
never stale and mining itself never draws (matplotlib's import and the PNG writes stay out of `data-engine mine`).
Everything is drawn from the catalog's records, so a lost file comes back the same.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from data_engine.catalog import Catalog, Clip
from data_engine.catalog.states import PIPELINE_ORDER
from data_engine.layout import mining_summary_key, timeline_key
from data_engine.plots import batch_summary_png, timeline_png
from data_engine.store import Store

MINED_STATES = frozenset(state.value for state in PIPELINE_ORDER[1:])
"""Clip states past trigger mining: such a clip has hits (or none) to draw on a timeline."""


@dataclass(frozen=True)
class BatchPictures:
    """The pictures of a batch that the UI shows (local paths): the summary and the busiest clip's timeline."""

    summary: Path | None = None
    busiest_timeline: Path | None = None


def forget_pictures(store: Store, batch_key: str, clips: Sequence[Clip]) -> None:
    """Delete the pictures a new selection in these clips changes (their timelines, the batch summary), so the
    next one to show them draws them from the records."""
    for key in [mining_summary_key(batch_key), *(timeline_key(clip) for clip in clips)]:
        store.delete(key)


def draw_missing_pictures(catalog: Catalog, store: Store, batch_key: str) -> list[str]:
    """Draw the batch's missing pictures: the timeline of each mined clip (hits per trigger row, selected frames
    marked) and the batch summary (hits and selected frames per trigger); returns the keys drawn. A batch with
    nothing missing costs one existence check per clip (the push step asks for every batch)."""
    batch_clips = catalog.clips(batch_key=batch_key)
    clips = [clip for clip in batch_clips if clip.status in MINED_STATES]
    missing = [clip for clip in clips if not store.exists(timeline_key(clip))]
    summary_key = mining_summary_key(batch_key)
    summary_missing = bool(clips) and not store.exists(summary_key)
    if not missing and not summary_missing:
        return []
    hits_by_clip: dict[str, list] = {clip.id: [] for clip in clips}
    for hit in catalog.hits(batch_key=batch_key):
        hits_by_clip.setdefault(hit.clip_id, []).append(hit)
    selected = catalog.selected_frames(batch_key=batch_key)
    frames_by_clip: dict[str, list[int]] = {}
    for frame in selected:
        frames_by_clip.setdefault(frame.clip_id, []).append(frame.frame)
    drawn = []
    for clip in missing:
        hits = hits_by_clip[clip.id]
        timeline_png(
            store.local_path(timeline_key(clip)),
            clip.last_frame - clip.first_frame + 1,
            hits,
            frames_by_clip.get(clip.id, []),
            triggers=sorted({hit.trigger for hit in hits}) or None,
            title=f"clip {clip.id}",
        )
        store.commit(timeline_key(clip))
        drawn.append(timeline_key(clip))
    if summary_missing:
        batch_summary_png(
            store.local_path(summary_key),
            dict(Counter(hit.trigger for hits in hits_by_clip.values() for hit in hits)),
            dict(Counter(str(frame.reasons.get("trigger")) for frame in selected)),
            frames_total=sum(clip.last_frame - clip.first_frame + 1 for clip in batch_clips),
            title=f"batch {batch_key}",
        )
        store.commit(summary_key)
        drawn.append(summary_key)
    return drawn


def shown_pictures(catalog: Catalog, store: Store, batch_key: str) -> BatchPictures:
    """The pictures the UI shows for a batch, drawn where missing: its summary and the timeline of the clip with
    the most hits."""
    draw_missing_pictures(catalog, store, batch_key)
    clips = [clip for clip in catalog.clips(batch_key=batch_key) if clip.status in MINED_STATES]
    if not clips:
        return BatchPictures()
    hit_counts = Counter(hit.clip_id for hit in catalog.hits(batch_key=batch_key))
    busiest = max(clips, key=lambda clip: hit_counts[clip.id])
    return BatchPictures(store.local_path(mining_summary_key(batch_key)), store.local_path(timeline_key(busiest)))
