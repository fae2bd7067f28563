"""Every user-facing failure of settings, catalog and store is one `error:` line naming the setting or file,
and a non-zero exit; no traceback (the commands run with catch_exceptions=False, so one would fail the test)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from data_engine.cli import main
from tests.videos import make_test_video


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    for name in ("CATALOG_URL", "STORE", "INBOX"):
        monkeypatch.delenv(f"DATA_ENGINE_{name}", raising=False)

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        return lines[0]

    return invoke


def test_a_home_that_is_a_file(engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "home-file").write_text("not a folder")
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home-file"))
    assert "DATA_ENGINE_HOME=" in engine("status") and "is a file, not a folder" in engine("status")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("foo://bar", "the catalog runs on SQLite (sqlite:///path/catalog.db) or PostgreSQL"),
        ("mysql://u@h/x", "not 'mysql'"),
        ("postgresql+pg8000://u@h/x", "no database driver for 'postgresql+pg8000'"),
    ],
)
def test_an_unknown_or_driverless_catalog_url(engine, monkeypatch: pytest.MonkeyPatch, url: str, expected: str) -> None:
    monkeypatch.setenv("DATA_ENGINE_CATALOG_URL", url)
    line = engine("status")
    assert "DATA_ENGINE_CATALOG_URL=" in line and expected in line


def test_a_store_that_cannot_be_created(engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("DATA_ENGINE_STORE", str(tmp_path / "a-file" / "store"))
    video = make_test_video(tmp_path / "v.mp4", frames=10)
    os.utime(video, (time.time() - 60, time.time() - 60))
    line = engine("ingest", str(video))
    assert line.startswith(f"error: cannot create the store DATA_ENGINE_STORE={tmp_path / 'a-file' / 'store'}")


def test_a_sqlite_catalog_on_a_full_disk(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs the right to mount a tmpfs (run as root) to fill a disk")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        environment = {
            **os.environ,
            "DATA_ENGINE_HOME": str(tmp_path / "home"),
            "DATA_ENGINE_CATALOG_URL": f"sqlite:///{disk / 'catalog.db'}",
            "DATA_ENGINE_COMPUTE": "inprocess",
        }
        engine = [sys.executable, "-m", "data_engine"]
        assert subprocess.run([*engine, "status"], env=environment, capture_output=True).returncode == 0
        filler = disk / "filler"
        descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(descriptor, b"\0" * 4096):
                pass
        except OSError:
            pass  # the disk is full
        finally:
            os.close(descriptor)
        video = make_test_video(tmp_path / "v.mp4", frames=50, gop=25)
        os.utime(video, (time.time() - 60, time.time() - 60))
        full = subprocess.run([*engine, "ingest", str(video)], env=environment, capture_output=True, text=True)
        assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr
        (line,) = [line for line in full.stderr.splitlines() if line.startswith("error:")]
        assert "(DATA_ENGINE_CATALOG_URL)" in line and "full" in line, line

        filler.unlink()
        fixed = subprocess.run([*engine, "ingest", str(video)], env=environment, capture_output=True, text=True)
        assert fixed.returncode == 0, fixed.stderr
        assert "1 videos clipped into 1 clips" in fixed.stdout
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)
