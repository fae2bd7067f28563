"""Worker pools die with their parent: SIGKILL of `data-engine mine` leaves no fork server, resource tracker or
worker behind (before, two ~420 MB workers went on computing for minutes)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.videos import make_test_video


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _running(pid: int, cmdline: bytes) -> bool:
    """Alive and still the same program (not a zombie, not a reused pid)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z" and Path(f"/proc/{pid}/cmdline").read_bytes() == cmdline
    except OSError:
        return False


def test_sigkill_during_mining_leaves_no_pool_process_behind(tmp_path: Path) -> None:
    video = make_test_video(tmp_path / "cam.mp4", frames=500, size=(320, 240), gop=25)
    os.utime(video, (time.time() - 60, time.time() - 60))
    environment = {
        **os.environ,
        "DATA_ENGINE_HOME": str(tmp_path / "home"),
        "DATA_ENGINE_CLIP_SECONDS": "1",
        "DATA_ENGINE_COMPUTE": "processes",
        "DATA_ENGINE_WORKERS": "2",
    }
    engine = [sys.executable, "-m", "data_engine"]
    subprocess.run([*engine, "ingest", str(video)], env=environment, check=True, capture_output=True, timeout=300)
    for computed_at_ingest in (tmp_path / "home" / "store" / "videos").glob("*/features.parquet"):
        computed_at_ingest.unlink()  # so that mining decodes the clips on the pool
    mining = subprocess.Popen([*engine, "mine"], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    pool: set[int] = set()
    deadline = time.monotonic() + 240
    while len(pool) < 4 and mining.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        pool = _descendants(mining.pid)  # resource tracker, fork server and its two workers
    assert len(pool) >= 4, f"the pool never started: {mining.poll()} {mining.stderr.read() if mining.stderr else ''}"
    programs = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pool if Path(f"/proc/{pid}").exists()}

    mining.send_signal(signal.SIGKILL)
    mining.wait()
    deadline = time.monotonic() + 120
    while any(_running(pid, cmdline) for pid, cmdline in programs.items()) and time.monotonic() < deadline:
        time.sleep(0.5)
    survivors = [pid for pid, cmdline in programs.items() if _running(pid, cmdline)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors == [], "pool processes outlived their parent"
