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
    assert line == (
        f"error: cannot use the store DATA_ENGINE_STORE={tmp_path / 'a-file' / 'store'}: {tmp_path / 'a-file'} is a "
        "file, not a folder; point it at a folder"
    )
    assert not (tmp_path / "home" / "catalog.db").exists(), "the check ran before the catalog was created"


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


def _old_video(tmp_path: Path) -> Path:
    video = make_test_video(tmp_path / "v.mp4", frames=10)
    os.utime(video, (time.time() - 60, time.time() - 60))
    return video


def test_a_store_that_is_a_file_fails_before_the_catalog_is_created(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "store-file").write_text("x")
    monkeypatch.setenv("DATA_ENGINE_STORE", str(tmp_path / "store-file"))
    line = engine("run", str(_old_video(tmp_path)))
    assert f"DATA_ENGINE_STORE={tmp_path / 'store-file'}" in line and "is a file, not a folder" in line
    assert not (tmp_path / "home").exists(), "nothing written: no home, no catalog.db"


def test_an_object_store_without_its_package_is_one_line_naming_the_variable(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fsspec")
    try:
        import s3fs  # noqa: F401

        pytest.skip("s3fs is installed here")
    except ImportError:
        pass
    monkeypatch.setenv("DATA_ENGINE_STORE", "s3://bucket/x")
    line = engine("ingest", str(_old_video(tmp_path)))
    assert "DATA_ENGINE_STORE=s3://bucket/x" in line and "s3fs" in line
    assert not (tmp_path / "home").exists()


def test_label_studio_without_its_token_fails_before_any_work(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("DATA_ENGINE_LABEL_STUDIO_TOKEN", raising=False)
    monkeypatch.delenv("DATA_ENGINE_ANNOTATION_BACKEND", raising=False)
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    line = engine("run", str(_old_video(tmp_path)))
    assert "DATA_ENGINE_LABEL_STUDIO_TOKEN" in line and "DATA_ENGINE_LABEL_STUDIO_URL" in line
    assert not (tmp_path / "home" / "catalog.db").exists(), "no video ingested, no clip selected"


def test_a_sqlite_catalog_in_a_missing_folder_outside_the_home_is_refused_and_not_created(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "elsewhere" / "deeper"
    monkeypatch.setenv("DATA_ENGINE_CATALOG_URL", f"sqlite:///{missing / 'catalog.db'}")
    line = engine("status")
    assert "DATA_ENGINE_CATALOG_URL=" in line and f"the folder {missing} does not exist" in line
    assert not (tmp_path / "elsewhere").exists()


def test_an_inbox_that_is_a_file_is_an_error(engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "inbox-file").write_text("x")
    monkeypatch.setenv("DATA_ENGINE_INBOX", str(tmp_path / "inbox-file"))
    line = engine("run")
    assert f"DATA_ENGINE_INBOX={tmp_path / 'inbox-file'}" in line and "is a file, not a folder" in line


def test_an_unreachable_postgresql_is_one_line(engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_ENGINE_CATALOG_URL", "postgresql+psycopg2://nobody@127.0.0.1:1/none")
    line = engine("status")
    assert "(DATA_ENGINE_CATALOG_URL)" in line and "Connection refused" in line
