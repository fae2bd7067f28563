"""What several processes started together on one catalog must leave: the catalog one run alone leaves."""

import os
import time
from collections import Counter
from pathlib import Path

from data_engine.catalog import Catalog
from data_engine.checks import frame_conservation_problems, orphan_files
from data_engine.store import Store, is_temporary
from tests.videos import short_samples


def settled_inbox(tmp_path: Path, sample_videos: Path) -> Path:
    """An inbox holding the two short sample videos, old enough to count as completely written."""
    inbox = tmp_path / "inbox"
    for video in short_samples(sample_videos, inbox):
        os.utime(video, (time.time() - 60, time.time() - 60))
    return inbox


def assert_as_one_run_leaves_it(catalog: Catalog, store: Store) -> tuple[int, int]:
    """Each video once and clipped, each clip once with one event per stage, each selected frame selected and
    pushed once in finished pushes, frames conserved, no orphan or temporary store file.
    Returns (frames selected, annotation runs)."""
    videos = catalog.videos()
    assert sorted(Path(video.source_uri).name for video in videos) == ["crowd.mkv", "dancer.mkv"]
    assert all((video.status, video.error) == ("clipped", None) for video in videos)
    clips = catalog.clips()
    assert len({clip.id for clip in clips}) == len(clips) == 2 + 6
    creations = Counter(
        event.clip_id for clip in clips for event in catalog.history(clip.id) if event.stage == "extract"
    )
    assert set(creations.values()) == {1}, "every clip recorded once, with one creation event"
    stages = Counter((event.clip_id, event.stage) for clip in clips for event in catalog.history(clip.id))
    assert {stage: count for stage, count in stages.items() if count > 1} == {}, "no stage did a clip's work twice"
    selected = [(frame.clip_id, frame.frame) for frame in catalog.selected_frames()]
    runs = catalog.annotation_runs()
    pushed = Counter((frame[0], frame[1]) for run in runs for frame in run.record.get("frames", []))
    assert selected and sorted(pushed) == sorted(set(selected)) == sorted(selected), "each frame selected once"
    assert set(pushed.values()) == {1} and {run.status for run in runs} == {"pushed"}, "each frame pushed once"
    assert frame_conservation_problems(catalog) == []
    assert orphan_files(catalog, store) == []
    assert not [path for path in Path(store.root).rglob(".*") if is_temporary(path.name)]
    return len(selected), len(runs)
