"""Several `data-engine run` / `ingest` processes started together on the same inbox and a fresh catalog.

Every process exits 0 and the catalog ends as one run leaves it: each video once, each clip once (one creation
event), frames tiled, each clip mined and selected once, no frame selected or pushed twice, no push left
unfinished, no false "quarantined ... .tmp-NNN" and no orphan or temporary file in the store.
"""

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from data_engine.catalog import Catalog
from data_engine.checks import frame_conservation_problems, orphan_files
from data_engine.store import Store, is_temporary
from tests.videos import short_samples


def _inbox(tmp_path: Path, sample_videos: Path) -> Path:
    inbox = tmp_path / "inbox"
    for video in short_samples(sample_videos, inbox):
        os.utime(video, (time.time() - 60, time.time() - 60))
    return inbox


def _start_together(home: Path, catalog_url: str, inbox: Path, processes: int) -> list[subprocess.CompletedProcess]:
    environment = {
        **os.environ,
        "DATA_ENGINE_HOME": str(home),
        "DATA_ENGINE_CATALOG_URL": catalog_url,
        "DATA_ENGINE_INBOX": str(inbox),
        "DATA_ENGINE_COMPUTE": "inprocess",
        "DATA_ENGINE_CLIP_SECONDS": "2",
    }
    commands = [["ingest", str(inbox)] if index == 2 else ["run"] for index in range(processes)]
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "data_engine", *command],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    finished = []
    for process, command in zip(started, commands, strict=True):
        out, err = process.communicate(timeout=600)
        finished.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return finished


@pytest.mark.parametrize("processes", [2, 3, 4])
def test_concurrent_runs_on_a_fresh_catalog_all_succeed_without_duplicates(
    tmp_path: Path, sample_videos: Path, catalog_url: str, processes: int
) -> None:
    home = tmp_path / "home"
    inbox = _inbox(tmp_path, sample_videos)
    started = time.monotonic()
    results = _start_together(home, catalog_url, inbox, processes)
    elapsed = time.monotonic() - started

    for result in results:
        assert result.returncode == 0, f"{result.args}: {result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        assert "quarantined /" not in result.stdout and "  quarantined" not in result.stdout, result.stdout
        assert ".tmp-" not in result.stdout + result.stderr

    catalog = Catalog(catalog_url)
    store = Store(str(home / "store"))
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
    print(
        f"{processes} processes on {catalog_url.split(':')[0]}: all exit 0 in {elapsed:.1f} s, {len(selected)} frames "
        f"selected and pushed once each in {len(runs)} annotation run(s), 0 duplicates"
    )
    catalog.dispose()
