"""Retry by hand: failed work goes back where it failed from, without waiting for its backoff.

Videos that failed (or were quarantined) go back to be probed and clipped by the next ingest; failed clips go back
to the state they failed from, so the stage that consumes that state takes them again (docs/reliability.md).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from data_engine.catalog import Catalog


@dataclass(frozen=True)
class RetryReport:
    videos: list[str]
    clips: list[str]


def retry(
    catalog: Catalog,
    video_ids: Sequence[str] = (),
    clip_ids: Sequence[str] = (),
    *,
    all_failed: bool = False,
    run_id: str | None = None,
) -> RetryReport:
    """Re-queue the given videos and clips (or, with `all_failed`, every failed one)."""
    videos = catalog.retry_videos(None if all_failed else video_ids) if all_failed or video_ids else []
    clips: list[str] = []
    if all_failed or clip_ids:
        for state, ids in catalog.failed_clip_origins(None if all_failed else clip_ids).items():
            catalog.transition(ids, state, stage="retry", run_id=run_id, detail={"requeued": True})
            clips += ids
    return RetryReport(videos, clips)
