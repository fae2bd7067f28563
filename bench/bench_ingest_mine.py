"""Ingest + image-level mining through the command line against a bare PyAV decode of the same file, side by side.

Ours: `data-engine ingest FILE` then `data-engine mine` as two subprocesses on a fresh home (start-up, catalog,
probe with the features riding on it, clip extraction, triggers, selection and its pictures all included). Bare:
PyAV decoding every frame of the same file with the decoder's own threads (`thread_type="AUTO"`), no pixel
conversion, timed in this process (no start-up: the stricter floor). Alternating runs, best of the repeats; the ratio
is bare wall / ours wall (goals: >= 0.7 for the ~1 minute file, >= 0.8 for the 10-minute one). CPU seconds (all
threads; the subprocesses' for ours) are printed too: on a machine shared with other work they are the steadier
figure. "start-up s" is `data-engine --help` (best of the repeats), paid twice by ours. Files: generated 1080p25
H.264 (libx264 veryfast, B-frames; cached in ~/.cache/data-engine-bench, never committed).

    .venv/bin/python -m bench.bench_ingest_mine [--repeats 3] [--seconds 68 600]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from bench.bench_mining import synthetic_h264

CLI = Path(sys.executable).parent / "data-engine"


def bare_decode(path: Path) -> tuple[int, float, float]:
    """Frames, wall seconds and CPU seconds of decoding every frame, nothing else."""
    started, cpu = time.perf_counter(), time.process_time()
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            count += 1
    return count, time.perf_counter() - started, time.process_time() - cpu


def ours(path: Path, environment: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds of `data-engine ingest` and of `data-engine mine` on a fresh home, and their CPU seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-mine-") as home:
        env = {**environment, "DATA_ENGINE_HOME": home}
        walls = []
        cpu = _children_cpu()
        for command in (["ingest", str(path)], ["mine"]):
            started = time.perf_counter()
            subprocess.run([str(CLI), *command], env=env, check=True, capture_output=True)
            walls.append(time.perf_counter() - started)
    return walls[0], walls[1], _children_cpu() - cpu


def startup(environment: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(CLI), "--help"], env=environment, check=True, capture_output=True)
    return time.perf_counter() - started


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each side; the best is kept")
    parser.add_argument("--seconds", type=int, nargs="+", default=[68, 600], help="lengths of the generated files")
    arguments = parser.parse_args()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DATA_ENGINE_")}
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f}, repeats: {arguments.repeats}")
    print(
        "| file | frames | bare decode s | bare fps | ingest s | mine s | ours s | ours fps | start-up s | "
        "bare / ours (wall) | bare CPU s | ours CPU s | bare / ours (CPU) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for seconds in arguments.seconds:
        path = synthetic_h264(1080, seconds)
        bare_runs, our_runs, startups = [], [], []
        for _ in range(arguments.repeats):
            bare_runs.append(bare_decode(path))
            our_runs.append(ours(path, environment))
            startups.append(startup(environment))
        frames, bare, bare_cpu = bare_runs[0][0], min(r[1] for r in bare_runs), min(r[2] for r in bare_runs)
        ingest, mine, _ = min(our_runs, key=lambda run: run[0] + run[1])
        total, our_cpu = ingest + mine, min(run[2] for run in our_runs)
        print(
            f"| {path.name} | {frames} | {bare:.2f} | {frames / bare:.0f} | {ingest:.2f} | {mine:.2f} | "
            f"{total:.2f} | {frames / total:.0f} | {min(startups):.2f} | {bare / total:.2f} | {bare_cpu:.2f} | "
            f"{our_cpu:.2f} | {bare_cpu / our_cpu:.2f} |",
            flush=True,
        )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
