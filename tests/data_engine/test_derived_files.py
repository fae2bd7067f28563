"""Every file in the store gets the same mode (mkstemp made some 0600), and derived pictures (timelines, the
mining summary) are re-created by the next run when they are missing."""

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from data_engine.cli import main
from tests.videos import make_test_video


def test_files_get_the_same_mode_and_missing_pictures_are_redrawn_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("DATA_ENGINE_HOME", str(home))
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    monkeypatch.setenv("DATA_ENGINE_CLIP_SECONDS", "1")
    video = make_test_video(tmp_path / "cam.mp4", frames=75, gop=25)
    os.utime(video, (time.time() - 60, time.time() - 60))
    previous = os.umask(0o022)
    try:
        first = CliRunner().invoke(main, ["run", str(video)], catch_exceptions=False)
    finally:
        os.umask(previous)
    assert first.exit_code == 0, first.output
    store = home / "store"
    modes = {path.relative_to(store).as_posix(): oct(path.stat().st_mode & 0o777) for path in store.rglob("*.*")}
    assert set(modes.values()) == {"0o644"}, {key: mode for key, mode in modes.items() if mode != "0o644"}

    pictures = sorted(store.rglob("timeline.png")) + sorted(store.rglob("mining_summary.png"))
    assert len(pictures) == 4
    for picture in pictures:
        picture.unlink()
    again = CliRunner().invoke(main, ["run"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert all(picture.is_file() and picture.stat().st_size > 0 for picture in pictures), "re-created when missing"
