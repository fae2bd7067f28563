"""Ingest + image-level mining through the command line against a bare PyAV decode of the same file, side by side.

Ours: `data-engine ingest FILE` then `data-engine mine` as two subprocesses on a fresh home (start-up, catalog,
probe with the features riding on it, clip extraction, triggers, selection and its pictures all included). Bare:
PyAV decoding every frame of the same file with the decoder's own threads (`thread_type="AUTO"`), no pixel
conversion, timed in this process (no start-up: the stricter floor). Alternating runs, best of the repeats; the ratio
is bare wall / ours wall (goals: >= 0.7 for the ~1 minute file, >= 0.8 for the 10-minute one). CPU seconds (all
threads; the subprocesses' for ours) are printed too: on a machine shared with other work they are the steadier
figure. "bare thumbnail s" decodes the same way with the options ingest's probe uses (`THUMBNAIL_DECODING`: no
deblocking of B-frames), the floor of what ingest itself decodes; the goal's ratio stays against the exact decode.
"start-up s" is `data-engine --help` (best of the repeats), paid twice by ours. "max RSS MiB" is the larger
peak resident memory of the two commands (memory must stay flat with video length). Files: generated 1080p25
H.264 (libx264 veryfast, B-frames; cached in ~/.cache/data-engine-bench, never committed).

Each checkout's `data_engine` is compiled to bytecode first, as on a user's machine (pip compiles what it installs,
and Python caches the modules it imports): where PYTHONDONTWRITEBYTECODE is set, as on this project's machines, an
editable checkout would otherwise compile its ~80 modules from source in every command, about 0.1 s each.

The commands run this checkout's code (PYTHONPATH is set to it). `--baseline PATH` also runs, in the same
alternation, the code of another checkout of the project (say a clean worktree of main) on the same file, so a
change is measured side by side with what it replaces on the same, possibly busy, machine.

    .venv/bin/python -m bench.bench_ingest_mine [--repeats 3] [--seconds 68 600] [--baseline ../main-worktree]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import av

from bench.bench_mining import synthetic_h264
from data_engine.video.frames import THUMBNAIL_DECODING

TIME = "/usr/bin/time"
CLI = [sys.executable, "-P", "-m", "data_engine"]
"""The command as `python -m data_engine`, the same program as `data-engine` in whichever checkout PYTHONPATH
names (`-P`: the working directory is not put before it)."""
CHECKOUT = Path(__file__).resolve().parents[1]


def bare_decode(path: Path, options: Mapping[str, str] | None = None) -> tuple[int, float, float]:
    """Frames, wall seconds and CPU seconds of decoding every frame (with the codec `options`), nothing else."""
    started, cpu = time.perf_counter(), time.process_time()
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if options:
            stream.codec_context.options = dict(options)
        for _ in container.decode(stream):
            count += 1
    return count, time.perf_counter() - started, time.process_time() - cpu


def ours(path: Path, environment: dict[str, str]) -> tuple[float, float, float, float]:
    """Wall seconds of `data-engine ingest` and of `data-engine mine` on a fresh home, their CPU seconds and the
    larger peak RSS (MiB) of the two."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-mine-") as home:
        env = {**environment, "DATA_ENGINE_HOME": home}
        walls, cpu, peak = [], 0.0, 0.0
        for command in (["ingest", str(path)], ["mine"]):
            seconds, usage, rss = _run(command, env, Path(home) / "stderr.txt")
            walls.append(seconds)
            cpu += usage.ru_utime + usage.ru_stime
            peak = max(peak, rss)
    return walls[0], walls[1], cpu, peak


def _run(command: list[str], env: dict[str, str], stderr_path: Path) -> tuple[float, resource.struct_rusage, float]:
    """Run `data-engine COMMAND`; its wall seconds, its resource usage (os.wait4: CPU) and its peak RSS in MiB.

    The peak comes from GNU time, which starts the command: a process this bench starts directly inherits the
    bench's own high-water mark (Linux keeps `maxrss` across fork and exec), which grows with the decoded file."""
    peak_path = stderr_path.with_name("peak-rss-kib.txt")
    started = time.perf_counter()
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [TIME, "-f", "%M", "-o", str(peak_path), *CLI, *command], env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    seconds = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"data-engine {' '.join(command)} failed: {stderr_path.read_text(errors='replace')}")
    return seconds, usage, int(peak_path.read_text().split()[-1]) / 1024


def startup(environment: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([*CLI, "--help"], env=environment, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each side; the best is kept")
    parser.add_argument("--seconds", type=int, nargs="+", default=[68, 600], help="lengths of the generated files")
    parser.add_argument("--baseline", type=Path, help="another checkout whose code runs too, alternating with this one")
    arguments = parser.parse_args()
    clean = {key: value for key, value in os.environ.items() if not key.startswith("DATA_ENGINE_")}
    trees = {"ours": CHECKOUT, **({"baseline": arguments.baseline.resolve()} if arguments.baseline else {})}
    environments = {name: {**clean, "PYTHONPATH": str(tree)} for name, tree in trees.items()}
    print(f"cores: {os.cpu_count()}, load average at start: {_load()}, repeats: {arguments.repeats}")
    for name, tree in trees.items():
        print(f"{name}: {tree} ({_commit(tree)})")
        compileall.compile_dir(tree / "data_engine", quiet=1)
    print(
        "| code | file | frames | bare decode s | bare thumbnail s | bare fps | ingest s | mine s | ours s | "
        "ours fps | start-up s | "
        "bare / ours (wall) | bare CPU s | ours CPU s | bare / ours (CPU) | max RSS MiB |"
    )
    print("| --- " * 16 + "|")
    for seconds in arguments.seconds:
        path = synthetic_h264(1080, seconds)
        bare_runs, thumbnail_runs = [], []
        our_runs: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in trees}
        startups: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(arguments.repeats):
            bare_runs.append(bare_decode(path))
            thumbnail_runs.append(bare_decode(path, THUMBNAIL_DECODING))
            for name in trees:
                our_runs[name].append(ours(path, environments[name]))
                startups[name].append(startup(environments[name]))
        frames, bare, bare_cpu = bare_runs[0][0], min(r[1] for r in bare_runs), min(r[2] for r in bare_runs)
        thumbnail = min(r[1] for r in thumbnail_runs)
        for name in trees:
            ingest, mine, _, _ = min(our_runs[name], key=lambda run: run[0] + run[1])
            total = ingest + mine
            our_cpu, peak = min(run[2] for run in our_runs[name]), max(run[3] for run in our_runs[name])
            print(
                f"| {name} | {path.name} | {frames} | {bare:.2f} | {thumbnail:.2f} | {frames / bare:.0f} | "
                f"{ingest:.2f} | {mine:.2f} | "
                f"{total:.2f} | {frames / total:.0f} | {min(startups[name]):.2f} | {bare / total:.2f} | "
                f"{bare_cpu:.2f} | {our_cpu:.2f} | {bare_cpu / our_cpu:.2f} | {peak:.0f} |",
                flush=True,
            )
        print(f"load average after {path.name}: {_load()}", flush=True)


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def _commit(tree: Path) -> str:
    described = subprocess.run(
        ["git", "-C", str(tree), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    )
    return described.stdout.strip() or "not a git checkout"


if __name__ == "__main__":
    main()
