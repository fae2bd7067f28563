"""Passing faults never quarantine: a read-only store, a full disk, a store without write permission, a bad
setting. The first run reports the fault in one `error:` line and exits non-zero; the run after the fix
converges with nothing lost. Input faults still quarantine (tested in test_ingest_stage.py).

Read-only and full-disk stores are real tmpfs mounts (the tests run as root; without the right to mount they
fall back to a folder without write permission, or are skipped). Permission errors are produced without root's
file capabilities (`setpriv` drops CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH), as an ordinary user would meet them.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
import pytest

from data_engine.catalog import Catalog
from data_engine.checks import frame_conservation_problems, orphan_files
from data_engine.store import Store
from tests.videos import make_test_video

IS_ROOT = os.geteuid() == 0
SETPRIV = shutil.which("setpriv")


def _aged(path: Path) -> Path:
    os.utime(path, (time.time() - 60, time.time() - 60))
    return path


def _unwritable(tmp_path: Path, folder: str) -> tuple[Path, Path, Path]:
    """An engine home whose `folder` an unprivileged run cannot write, a settled test video and that folder (skips
    where root cannot drop its file capabilities)."""
    if IS_ROOT and SETPRIV is None:
        pytest.skip("needs setpriv to drop root's file capabilities")
    home = tmp_path / "home"
    video = _aged(make_test_video(tmp_path / "cam.mp4", frames=50, gop=25))
    locked = home / folder
    locked.mkdir(parents=True)
    locked.chmod(0o555)
    return home, video, locked


def _engine(home: Path, *args: str, unprivileged: bool = False, **settings: str) -> subprocess.CompletedProcess:
    """`data-engine ARGS` in a subprocess, as an ordinary user would run it when `unprivileged`."""
    environment = {
        **os.environ,
        "DATA_ENGINE_HOME": str(home),
        "DATA_ENGINE_COMPUTE": "inprocess",
        **{f"DATA_ENGINE_{name.upper()}": value for name, value in settings.items()},
    }
    command = [sys.executable, "-m", "data_engine", *args]
    if unprivileged and IS_ROOT:
        command = [SETPRIV or "setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", *command]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def _videos(home: Path, **settings: str) -> list[dict]:
    result = _engine(home, "videos", "--json", **settings)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _assert_converged(home: Path, store_root: Path | None = None, videos: int = 1) -> None:
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    store = Store(str(store_root or home / "store"))
    found = catalog.videos()
    assert len(found) == videos and all(video.status == "clipped" for video in found), [
        (video.status, video.error) for video in found
    ]
    assert catalog.clips(), "clipped into clips"
    assert frame_conservation_problems(catalog) == [], "every frame in exactly one clip: nothing lost or doubled"
    assert orphan_files(catalog, store) == [], "no orphan or temporary file"
    catalog.dispose()


@contextmanager
def _tmpfs(mountpoint: Path, size: str) -> Iterator[bool]:
    """A tmpfs of `size` at mountpoint; yields False (nothing mounted) where mounting is not permitted."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    mounted = (
        IS_ROOT
        and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)]).returncode == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def _remount(mountpoint: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mountpoint)], check=True)


def _big_video(path: Path, frames: int = 380) -> Path:
    """About 35 MB of MPEG-4 (noise barely compresses): more than a 20 MB disk holds."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25, options={"qmin": "1", "qmax": "2"})
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.bit_rate = 200_000_000
        stream.codec_context.gop_size = 25
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return _aged(path)


def test_a_read_only_clip_store_fails_the_video_and_the_run_after_the_fix_clips_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    video = _aged(make_test_video(tmp_path / "cam.mp4", frames=100, gop=25))
    clips_folder = home / "store" / "clips"
    with _tmpfs(clips_folder, "50m") as mounted:
        if mounted:
            _remount(clips_folder, "ro")
        else:
            clips_folder.chmod(0o555)
        first = _engine(home, "ingest", str(video), unprivileged=not mounted, clip_seconds="1")
        error = _one_error_line(first)
        (listed,) = _videos(home)
        assert listed["status"] == "failed", "a passing fault never quarantines"
        assert listed["attempts"] == 1 and listed["next_attempt_at"]
        reason = "Read-only file system" if mounted else "Permission denied"
        assert reason in listed["error"] and "DATA_ENGINE_STORE" in listed["error"]
        assert reason in error and f"failed {video}" in first.stdout

        if mounted:
            _remount(clips_folder, "rw")
        else:
            clips_folder.chmod(0o755)
        second = _engine(home, "run", unprivileged=not mounted, clip_seconds="1", inbox=str(tmp_path / "none"))
        assert second.returncode == 0, second.stdout + second.stderr
        _assert_converged(home)
        assert len(Catalog(f"sqlite:///{home / 'catalog.db'}").clips()) == 4


def test_a_full_disk_fails_the_video_and_the_run_after_the_fix_converges(tmp_path: Path) -> None:
    video = _big_video(tmp_path / "big.avi")
    assert video.stat().st_size > 30e6
    disk = tmp_path / "disk"
    with _tmpfs(disk, "20m") as mounted:
        if not mounted:
            pytest.skip("needs the right to mount a tmpfs (run as root) to fill a disk")
        home = disk / "home"
        first = _engine(home, "ingest", str(video), clip_seconds="2")
        error = _one_error_line(first)
        assert "No space left on device" in error or "database or disk is full" in error, error
        statuses = {video["status"] for video in _videos(home)}
        assert "quarantined" not in statuses and statuses <= {"failed", "registered"}

        _remount(disk, "size=200m")
        second = _engine(home, "ingest", str(video), clip_seconds="2")
        assert second.returncode == 0, second.stdout + second.stderr
        _assert_converged(home)


def test_a_store_without_write_permission_fails_the_video_not_quarantines_it(tmp_path: Path) -> None:
    home, video, locked = _unwritable(tmp_path, "store")
    first = _engine(home, "ingest", str(video), unprivileged=True)
    assert "Permission denied" in _one_error_line(first)
    (listed,) = _videos(home)
    assert (listed["status"], listed["attempts"]) == ("failed", 1)

    locked.chmod(0o755)
    assert _engine(home, "ingest", str(video), unprivileged=True).returncode == 0
    _assert_converged(home)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CLIP_SECONDS", "nan", "DATA_ENGINE_CLIP_SECONDS must be a finite number, got nan"),
        ("CLIP_SECONDS", "inf", "DATA_ENGINE_CLIP_SECONDS must be a finite number, got inf"),
        ("CLIP_SECONDS", "-1", "DATA_ENGINE_CLIP_SECONDS must be at least"),
        ("DETECTOR_CONF", "1.5", "DATA_ENGINE_DETECTOR_CONF must be at least 0 and at most 1, got 1.5"),
        ("GATE_MAX_DROP", "nan", "DATA_ENGINE_GATE_MAX_DROP must be a finite number"),
        ("BUDGET_PER_DAY", "-5", "DATA_ENGINE_BUDGET_PER_DAY must be at least 0"),
    ],
)
def test_settings_refuse_nan_infinities_and_out_of_range_values_at_load(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    home = tmp_path / "home"
    video = _aged(make_test_video(tmp_path / "cam.mp4", frames=50, gop=25))
    first = _engine(home, "ingest", str(video), **{variable: value})
    assert message in _one_error_line(first)
    assert first.returncode == 2
    assert not (home / "catalog.db").exists() or _videos(home) == [], "nothing was touched"

    second = _engine(home, "ingest", str(video))
    assert second.returncode == 0, second.stderr
    _assert_converged(home)


def test_a_video_failing_again_waits_for_its_backoff_unless_retried_by_hand(tmp_path: Path) -> None:
    home, video, locked = _unwritable(tmp_path, "store/clips")
    assert _engine(home, "ingest", str(video), unprivileged=True).returncode == 1
    assert _engine(home, "ingest", str(video), unprivileged=True).returncode == 1, "first retry is immediate"
    (listed,) = _videos(home)
    assert (listed["status"], listed["attempts"]) == ("failed", 2)

    locked.chmod(0o755)
    waiting = _engine(home, "ingest", str(video), unprivileged=True)
    assert waiting.returncode == 0 and "failed 2 time(s)" in waiting.stderr and "next attempt after" in waiting.stderr
    assert _videos(home)[0]["attempts"] == 2, "backing off: the third attempt waits a minute"

    retry = _engine(home, "retry", "--video", listed["id"])
    assert retry.returncode == 0 and "re-queued 1 video(s)" in retry.stdout
    assert _engine(home, "ingest", str(video), unprivileged=True).returncode == 0
    _assert_converged(home)


def test_retry_puts_a_failed_clip_back_where_it_failed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    video = _aged(make_test_video(tmp_path / "cam.mp4", frames=50, gop=25))
    assert _engine(home, "ingest", str(video), clip_seconds="1").returncode == 0
    clips = json.loads(_engine(home, "clips", "--json").stdout)
    clip_file = Path(clips[0]["path"])
    good = clip_file.read_bytes()
    clip_file.write_bytes(b"not a clip any more")
    # mining then decodes the clip itself: without this, it reads the clip's rows of the features ingest computed
    (home / "store" / "videos" / clips[0]["video_id"] / "features.parquet").unlink()
    mined = _engine(home, "mine")
    assert f"failed {clips[0]['id']}" in mined.stdout
    assert _engine(home, "clips", "--json", "--status", "failed").stdout.count(clips[0]["id"]) == 1

    clip_file.write_bytes(good)
    retry = _engine(home, "retry", "--clip", clips[0]["id"])
    assert retry.returncode == 0 and "re-queued 0 video(s) and 1 clip(s)" in retry.stdout
    journey = _engine(home, "clip", "show", clips[0]["id"]).stdout
    assert "failed -> extracted" in journey
    assert _engine(home, "mine").returncode == 0
    states = {clip["status"] for clip in json.loads(_engine(home, "clips", "--json").stdout)}
    assert "failed" not in states


def test_retry_says_what_it_needs_and_what_it_cannot_find(tmp_path: Path) -> None:
    home = tmp_path / "home"
    nothing = _engine(home, "retry")
    assert nothing.returncode == 2 and "--video ID, --clip ID or --all-failed" in nothing.stderr
    unknown = _engine(home, "retry", "--video", "no-such-video")
    assert "nothing to retry for no-such-video" in _one_error_line(unknown)
    assert _engine(home, "retry", "--all-failed").stdout.startswith("re-queued 0 video(s) and 0 clip(s)")


def _selection(home: Path, store_root: Path) -> tuple[set[tuple[str, int]], set[tuple[str, int]], int]:
    """Selected frames, pushed frames (clip, frame) and the number of annotation runs of a home."""
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    try:
        selected = {(frame.clip_id, frame.frame) for frame in catalog.selected_frames()}
        runs = catalog.annotation_runs()
        pushed = {(frame.clip_id, frame.frame) for run in runs for frame in catalog.pushed_frames(run.id)}
        return selected, pushed, len(runs)
    finally:
        catalog.dispose()


def _clean_failure(result: subprocess.CompletedProcess) -> None:
    """Failed without a traceback: one `error:` line, or the failure reported on stdout with rc 0."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    if result.returncode != 0:
        _one_error_line(result)
    else:
        assert "failed" in result.stdout, result.stdout + result.stderr


def test_a_disk_that_stays_full_fails_every_run_cleanly_and_recovery_equals_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    video = _big_video(tmp_path / "big.avi", frames=240)
    assert 20e6 < video.stat().st_size < 30e6, video.stat().st_size
    settings = {"clip_seconds": "2", "inbox": str(tmp_path / "none")}

    whole = tmp_path / "whole"
    uninterrupted = _engine(whole, "run", str(video), **settings)
    assert uninterrupted.returncode == 0, uninterrupted.stdout + uninterrupted.stderr
    expected = _selection(whole, whole / "store")
    assert expected[0] and expected[1], "the uninterrupted run selected and pushed frames"

    disk = tmp_path / "disk"
    with _tmpfs(disk, "20m") as mounted:
        if not mounted:
            pytest.skip("needs the right to mount a tmpfs (run as root) to fill a disk")
        home = tmp_path / "home"
        store = {"store": str(disk / "store"), **settings}
        first = _engine(home, "run", str(video), **store)
        _clean_failure(first)
        (listed,) = _videos(home, **store)
        assert listed["status"] == "failed" and "No space left on device" in listed["error"], listed

        second = _engine(home, "run", str(video), **store)
        _clean_failure(second)
        selected, pushed, _ = _selection(home, disk / "store")
        assert not selected and not pushed, "nothing of the video that failed is selected or pushed"

        _remount(disk, "size=200m")
        retry = _engine(home, "retry", "--all-failed", **store)
        assert retry.returncode == 0, retry.stdout + retry.stderr
        recovered = _engine(home, "run", **store)
        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        assert _selection(home, disk / "store") == expected, "the same selection as an uninterrupted run"
        _assert_converged(home, disk / "store")
