"""Stages take the clips they work on with a lease, so two runs at once never do the same clip's work twice."""

from collections.abc import Sequence

from data_engine.catalog import Catalog, Clip, ClipState
from data_engine.processes import holder_gone, this_process


def take(catalog: Catalog, clips: Sequence[Clip], status: ClipState | None) -> tuple[list[Clip], str]:
    """Lease those of `clips` still in `status` (None: in whatever state) to this process; the clips it got, and
    the holder name the stage records its results under. Leases of processes on this host that died are taken
    over at once; another host's run out."""
    worker = this_process()
    gone = {clip.claimed_by for clip in clips if clip.claimed_by and holder_gone(clip.claimed_by)}
    got = set(catalog.claim_clips([clip.id for clip in clips], status, worker, gone=gone))
    return [clip for clip in clips if clip.id in got], worker
