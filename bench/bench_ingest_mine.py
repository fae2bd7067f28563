"""Ingest + image-level mining through the command line against a bare PyAV decode of the same file, side by side.

Ours: `data-engine ingest FILE` then `data-engine mine` as two subprocesses on a fresh home (start-up, catalog,
probe with the features riding on it, clip extraction, triggers, selection and its pictures all included). Bare:
PyAV decoding every frame of the same file with the decoder's own threads (`thread_type="AUTO"`), no pixel
conversion, timed in this process (no start-up: the stricter floor). Alternating runs, best of the repeats; the ratio
is bare wall / ours wall (goals: >= 0.7 for the ~1 minute file, >= 0.8 for the 10-minute one). Files: generated
1080p25 H.264 (libx264 veryfast, B-frames; cached in ~/.cache/data-engine-bench, never committed).

    .venv/bin/python -m bench.bench_ingest_mine [--repeats 3] [--seconds 68 600]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from bench.bench_mining import synthetic_h264

CLI = Path(sys.executable).parent / "data-engine"


def bare_decode(path: Path) -> tuple[int, float]:
    """Frames and wall seconds of decoding every frame, nothing else."""
    started = time.perf_counter()
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            count += 1
    return count, time.perf_counter() - started


def ours(path: Path, environment: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of `data-engine ingest` and of `data-engine mine` on a fresh home."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-mine-") as home:
        env = {**environment, "DATA_ENGINE_HOME": home}
        walls = []
        for command in (["ingest", str(path)], ["mine"]):
            started = time.perf_counter()
            subprocess.run([str(CLI), *command], env=env, check=True, capture_output=True)
            walls.append(time.perf_counter() - started)
    return walls[0], walls[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each side; the best is kept")
    parser.add_argument("--seconds", type=int, nargs="+", default=[68, 600], help="lengths of the generated files")
    arguments = parser.parse_args()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DATA_ENGINE_")}
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f}, repeats: {arguments.repeats}")
    print("| file | frames | bare decode s | bare fps | ingest s | mine s | ours s | ours fps | bare / ours (wall) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for seconds in arguments.seconds:
        path = synthetic_h264(1080, seconds)
        bare_runs, our_runs = [], []
        for _ in range(arguments.repeats):
            bare_runs.append(bare_decode(path))
            our_runs.append(ours(path, environment))
        frames, bare = bare_runs[0][0], min(wall for _, wall in bare_runs)
        ingest, mine = min(our_runs, key=sum)
        total = ingest + mine
        print(
            f"| {path.name} | {frames} | {bare:.2f} | {frames / bare:.0f} | {ingest:.2f} | {mine:.2f} | "
            f"{total:.2f} | {frames / total:.0f} | {bare / total:.2f} |",
            flush=True,
        )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
