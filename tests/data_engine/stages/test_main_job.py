"""The main job as a person runs it: twice on the sample videos, the second run doing no duplicate work."""

import json
import os
import time
from pathlib import Path

import pytest

from data_engine import layout
from data_engine.catalog import Catalog
from data_engine.cli import duration_text
from data_engine.synthetic import generate
from tests.cli import run_cli


def test_running_the_main_job_twice_does_no_duplicate_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_videos: Path
) -> None:
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    first = run_cli("run", str(sample_videos))
    assert "this run (" in first and ": 2 videos clipped in 1 new batch," in first and "cold start" in first
    total = next(line for line in first.splitlines() if line.startswith("in total: "))
    assert total.startswith("in total: 2 videos clipped (") and " s of video)" in total and " h" not in total, total
    assert "tasks pushed: " in first and "tasks pushed: none new" not in first
    pages = [Path(line.rsplit(": ", 1)[1]) for line in first.splitlines() if "boxes and reasons: " in line]
    pushed = int(first.split("tasks pushed: ", 1)[1].split(" ", 1)[0])
    assert pages and sum(page.read_text().count("<figure>") for page in pages) == pushed, "one picture per task"
    assert "trigger hits: none new" in first, "the sample videos trigger nothing on a cold start"
    assert all("Cold start: these frames are a diversity sample." in page.read_text() for page in pages)
    assert all("diversity sample (no trigger)" in page.read_text() for page in pages), "no 'diversity 0.00'"
    clips_before = json.loads(run_cli("clips", "--json"))
    catalog = Catalog(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}")
    runs_before = [run.id for run in catalog.annotation_runs()]
    selected_before = len(catalog.selected_frames())

    second = run_cli("run", str(sample_videos))
    assert ": 0 videos clipped in 0 new batches" in second and "tasks pushed: none new" in second
    assert "frames selected: 0;" in second and "in total: 2 videos clipped" in second, "this run apart from totals"
    assert json.loads(run_cli("clips", "--json")) == clips_before, "same clips, same states"
    assert [run.id for run in catalog.annotation_runs()] == runs_before, "no new annotation tasks"
    assert len(catalog.selected_frames()) == selected_before
    assert all(len(catalog.history(clip["id"])) == 4 for clip in clips_before), "extracted, mined, selected, pushed"
    catalog.dispose()


def test_durations_read_in_seconds_minutes_or_hours() -> None:
    assert [duration_text(s) for s in (4.25, 59.94, 200, 3599.4, 7500)] == [
        "4.2 s",
        "59.9 s",
        "3 min 20 s",
        "59 min 59 s",
        "2 h 05 min",
    ]


def test_the_command_line_steps_and_the_main_job_take_the_same_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ingest` then `mine` on one home and `run` on another give the same clips and the same selected frames,
    and every file either writes is where data_engine/layout.py says."""
    video = generate(tmp_path / "videos", seed=7, seconds=6).video_path
    os.utime(video, (time.time() - 60, time.time() - 60))
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")

    def on(home: str, *args: str) -> str:
        monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / home))
        return run_cli(*args)

    on("steps", "ingest", str(video))
    assert "selected" in on("steps", "mine")
    assert "in total: 1 videos clipped" in on("job", "run", str(video))

    def outcome(home: str) -> tuple[list[tuple[str, int, int]], list[tuple[str, int]]]:
        catalog = Catalog(f"sqlite:///{tmp_path / home / 'catalog.db'}")
        clips = [(clip.id, clip.first_frame, clip.last_frame) for clip in catalog.clips()]
        selected = sorted((frame.clip_id, frame.frame) for frame in catalog.selected_frames())
        catalog.dispose()
        return clips, selected

    steps, job = outcome("steps"), outcome("job")
    assert steps == job and steps[1], "same clips, same frames selected"
    written = [
        path.relative_to(tmp_path / "job" / "store").as_posix() for path in (tmp_path / "job").rglob("store/**/*")
    ]
    folders = {key.split("/", 1)[0] for key in written}
    assert folders <= {layout.CLIPS, "videos", "batches", "annotation", layout.REPORTS}, folders
