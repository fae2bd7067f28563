"""Importing a bundle's zip unpacks only the members an import reads (never the images), streamed under a size
limit the error states, into a scratch folder of the store that is gone after every way out and that the next
command sweeps when a killed import left it."""

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from data_engine.annotation import bundle
from data_engine.cli import main
from data_engine.store import is_temporary
from tests.answers import answer_every_frame
from tests.conftest import isolated_home
from tests.videos import make_test_video


@pytest.fixture
def answered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A home whose pushed bundle is answered, and that bundle's folder."""
    home = isolated_home(tmp_path, monkeypatch)
    video = make_test_video(tmp_path / "v.mp4", frames=75)
    os.utime(video, (time.time() - 60, time.time() - 60))
    result = CliRunner().invoke(main, ["run", str(video)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = answer_every_frame(home)
    return home, Path(run.project_url)


def _zip(folder: Path, archive_path: Path, extra: dict[str, int]) -> Path:
    """The bundle folder zipped in its one top folder, plus members of `extra` (name -> bytes of zeros)."""
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder)}")
        for name, size in extra.items():
            with archive.open(f"{folder.name}/{name}", "w", force_zip64=True) as member:
                for _ in range(size // (1 << 20)):
                    member.write(bytes(1 << 20))
    return archive_path


def _scratch_left(home: Path) -> list[Path]:
    return [path for path in home.rglob(".*") if is_temporary(path.name)]


def test_a_zip_with_a_huge_image_imports_without_unpacking_it(
    answered: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, folder = answered
    monkeypatch.setattr(bundle, "ARCHIVE_LIMIT_BYTES", 8 << 20, raising=False)
    archive = _zip(folder, tmp_path / "answers.zip", {"images/huge.jpg": 256 << 20})
    assert archive.stat().st_size < 2 << 20, "a zip bomb: tiny, unpacking to far more than the limit"
    unpacked = [0]
    read = zipfile.ZipExtFile.read

    def counted(self: zipfile.ZipExtFile, n: int | None = -1) -> bytes:
        data = read(self, n)
        unpacked[0] += len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counted)
    result = CliRunner().invoke(main, ["import-annotations", str(archive)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert unpacked[0] < 8 << 20, f"{unpacked[0]} bytes unpacked: the image was read"
    assert "label versions written" in result.output
    assert _scratch_left(home) == []


def test_a_zip_bomb_among_the_answer_files_is_refused_with_the_limit_and_leaves_nothing(
    answered: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, folder = answered
    monkeypatch.setattr(bundle, "ARCHIVE_LIMIT_BYTES", 4_000_000, raising=False)
    archive = _zip(folder, tmp_path / "bomb.zip", {"labels/bomb.txt": 64 << 20})
    result = CliRunner().invoke(main, ["import-annotations", str(archive)], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {archive}: refused") and "more than 4 MB" in line, line
    assert _scratch_left(home) == [], "the scratch folder is removed on the way out of an error too"


def test_the_scratch_folder_of_a_killed_import_is_swept_by_the_next_command(answered: tuple[Path, Path]) -> None:
    home, _ = answered
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from data_engine.store import temporary_path\n"
            "scratch = temporary_path(Path(sys.argv[1]) / 'import'); scratch.mkdir()\n"
            "(scratch / 'tasks.labelstudio.json').write_bytes(bytes(1000)); print(scratch)",
            str(home / "store"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    left = Path(killed.stdout.strip())
    assert left.is_dir()
    result = CliRunner().invoke(main, ["push"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert not left.exists()
