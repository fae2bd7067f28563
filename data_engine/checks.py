"""Invariants of the catalog and the store, used by Dagster asset checks, the CLI and the tests."""

from collections import defaultdict

from data_engine.catalog import Catalog, VideoStatus
from data_engine.layout import CLIPS, clip_folder
from data_engine.store import Store, is_temporary


def frame_conservation_problems(catalog: Catalog, batch_key: str | None = None) -> list[str]:
    """Every decodable frame of every clipped video belongs to exactly one clip: clips tile [0, frames-1]."""
    clips_by_video = defaultdict(list)
    for clip in catalog.clips(batch_key=batch_key):
        clips_by_video[clip.video_id].append(clip)
    problems = []
    for video in catalog.videos(batch_key=batch_key, status=VideoStatus.CLIPPED):
        expected_first = 0
        for clip in sorted(clips_by_video.get(video.id, []), key=lambda c: c.ordinal):
            if clip.first_frame != expected_first:
                problems.append(
                    f"video {video.id[:12]}: clip {clip.id} starts at frame {clip.first_frame}, "
                    f"expected {expected_first}"
                )
            expected_first = clip.last_frame + 1
        if expected_first != video.frames:
            problems.append(f"video {video.id[:12]}: clips cover {expected_first} of {video.frames} frames")
    return problems


def orphan_files(catalog: Catalog, store: Store, batch_key: str | None = None) -> list[str]:
    """Store files under clips/ that no recorded clip owns, and leftovers of interrupted writes."""
    recorded = {clip.path.rsplit("/", 1)[0] for clip in catalog.clips(batch_key=batch_key)}
    videos = catalog.videos(batch_key=batch_key) if batch_key is not None else None
    prefixes = [clip_folder(video.id) for video in videos] if videos is not None else [CLIPS]
    orphans = []
    for prefix in prefixes:
        for key in store.list_keys(prefix):
            clip_folder_of_key = "/".join(key.split("/")[:3])
            if is_temporary(key.rsplit("/", 1)[-1]) or clip_folder_of_key not in recorded:
                orphans.append(key)
    return orphans
