"""One temporary-file convention for every writer: a name the one clean-up pattern recognises, leftovers of dead
writers removed and live writers' files left alone."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_engine.store import is_temporary, remove_stale_temporaries, temporary_path
from tests.videos import make_test_video

KILLED_WRITERS = {
    "store.write_text": "Store(sys.argv[1]).write_text('videos/v/probe.json', '{}')",
    "timeline_png": "timeline_png(Path(sys.argv[1]) / 'timeline.png', 10, [], [])",
    "write_features": "write_features(compute_features(sys.argv[2]), Path(sys.argv[1]) / 'features.parquet')",
    "labels_to_parquet": "labels_to_parquet([], Path(sys.argv[1]) / 'boxes.parquet')",
}


@pytest.mark.parametrize("writer", sorted(KILLED_WRITERS))
def test_a_writer_killed_before_its_rename_leaves_a_file_the_clean_up_pattern_removes(
    tmp_path: Path, writer: str
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    video = make_test_video(tmp_path / "v.mp4", frames=10)
    script = (
        "import os, sys\nfrom pathlib import Path\n"
        "os.replace = lambda *_: os._exit(137)\n"
        "from data_engine.store import Store\n"
        "from data_engine.plots import timeline_png\n"
        "from data_engine.mining.features import compute_features, write_features\n"
        "from data_engine.autolabel.labels import labels_to_parquet\n" + KILLED_WRITERS[writer]
    )
    killed = subprocess.run([sys.executable, "-c", script, str(folder), str(video)], capture_output=True, text=True)
    assert killed.returncode == 137, killed.stderr
    leftovers = [path for path in folder.rglob("*") if path.is_file()]
    assert leftovers, "the writer was killed after writing its temporary file"
    assert all(is_temporary(path.name) for path in leftovers), [path.name for path in leftovers]
    assert remove_stale_temporaries(folder) == len(leftovers)
    assert not [path for path in folder.rglob("*") if path.is_file()]


def test_the_clean_up_leaves_the_files_of_live_writers_and_removes_dead_ones(tmp_path: Path) -> None:
    mine = temporary_path(tmp_path / "clip.mkv")
    mine.write_bytes(b"being written by this process")
    dead_writer = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from data_engine.store import temporary_path;"
            "print(temporary_path(Path(sys.argv[1])))",
            str(tmp_path / "clip.mkv"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(dead_writer).write_bytes(b"left by a killed process")
    other_host = tmp_path / ".clip.mkv.tmp-0badc0de-1-abcd1234"
    other_host.write_bytes(b"another machine's, still fresh")
    old = tmp_path / ".clip.json.tmp-0badc0de-1-abcd1234"
    old.write_bytes(b"another machine's, two days old")
    os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))

    assert remove_stale_temporaries(tmp_path) == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([mine.name, other_host.name])
    assert mine.name != Path(dead_writer).name, "every writer has a name of its own"


def test_every_command_that_opens_the_store_sweeps_it_whole_and_leaves_what_live_writers_are_filling(
    tmp_path: Path,
) -> None:
    """The sweep covers the whole store (annotation/images/ too, where a push killed mid-image left its file) and
    runs when a command opens the store; a concurrent run's file (a live process on this host, or another host's
    file changed within the writer lease) stays, however the run was started."""
    from data_engine.runtime import Runtime
    from data_engine.settings import Settings
    from data_engine.store import WRITER_LEASE_S

    home = tmp_path / "home"
    store = home / "store"
    images = store / "annotation" / "images"
    images.mkdir(parents=True)
    (store / "models").mkdir()
    name_of_a_dead_writer = (
        "import sys; from pathlib import Path; from data_engine.store import temporary_path;"
        "print(temporary_path(Path(sys.argv[1])))"
    )
    dead = Path(
        subprocess.run(
            [sys.executable, "-c", name_of_a_dead_writer, str(images / "c_f000160_t6.400s.jpg")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    dead.write_bytes(b"half a jpeg")
    live_writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = temporary_path(Path("x")).name.split(".tmp-", 1)[1].split("-")[0]
        live = images / f".c_f000170_t6.800s.jpg.tmp-{host}-{live_writer.pid}-abcd1234"
        live.write_bytes(b"another run, writing now")
        foreign_fresh = store / "models" / ".m.onnx.tmp-0badc0de-1-abcd1234"
        foreign_fresh.write_bytes(b"another machine, writing now")
        foreign_old = store / "models" / ".m.json.tmp-0badc0de-1-abcd1234"
        foreign_old.write_bytes(b"another machine, silent for longer than the lease")
        past = time.time() - WRITER_LEASE_S - 60
        os.utime(foreign_old, (past, past))
        not_ours = images / ".notes.tmp"
        not_ours.write_bytes(b"not the engine's pattern")

        runtime = Runtime(Settings.from_env({"DATA_ENGINE_HOME": str(home)}, dotenv=None))
        assert runtime.store.root == str(store)

        assert not dead.exists() and not foreign_old.exists()
        assert live.exists() and foreign_fresh.exists() and not_ours.exists()
    finally:
        live_writer.kill()
        live_writer.wait()
