"""Model-level mining + autolabelling through the command line against Ultralytics' own `predict(stream=True)` over
the same frames once, side by side, and the detector calls per frame they cost.

Setup (not timed): the 1080p H.264 file of `bench_ingest_mine` is ingested once into a template home (features
computed by the ingest probe). Ours, on a copy of that home per run: `data-engine mine` with the test suite's tiny
detector (`DATA_ENGINE_DETECTORS`, imgsz 160, conf 0.1; model-level triggers on every 2nd frame, detections
stored), then `data-engine autolabel --batch KEY` (mining selected every clip; the other frames inferred, hindsight,
label files); two subprocesses, start-up included. Theirs: one subprocess that imports Ultralytics, loads the same
weights and iterates `YOLO.predict(source=clip, stream=True, imgsz=160, conf=0.1)` over every clip file. Alternating
runs, best of the repeats; the ratio is theirs / ours (goal >= 0.8). Detector calls per frame are counted from the
stored detections (frames each model ran on, per clip) and must be <= 1.0.

    .venv/bin/python -m bench.bench_model_work [--repeats 3] [--seconds 68] [--compute processes inprocess]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_autolabel import tiny_weights
from bench.bench_mining import synthetic_h264
from data_engine.detectors.stored import read_detections

CLI = Path(sys.executable).parent / "data-engine"
IMGSZ, CONF = 160, 0.1
ULTRALYTICS_LOOP = """
import sys
from ultralytics import YOLO
model = YOLO(sys.argv[1])
frames = 0
for clip in sys.argv[2:]:
    for _ in model.predict(source=clip, stream=True, imgsz={imgsz}, conf={conf}, verbose=False):
        frames += 1
print(frames)
"""


def cli(home: Path, environment: dict[str, str], *args: str) -> str:
    env = {**environment, "DATA_ENGINE_HOME": str(home)}
    return subprocess.run([str(CLI), *args], env=env, check=True, capture_output=True, text=True).stdout


def ours(template: Path, scratch: Path, environment: dict[str, str], batch: str) -> tuple[float, float, Path]:
    """Wall seconds of `mine` and of `autolabel --batch` on a fresh copy of the ingested home."""
    home = scratch / "home"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(template, home)
    started = time.perf_counter()
    cli(home, environment, "mine")
    mined = time.perf_counter()
    cli(home, environment, "autolabel", "--batch", batch)
    return mined - started, time.perf_counter() - mined, home


def theirs(weights: Path, clips: list[str], environment: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    script = ULTRALYTICS_LOOP.format(imgsz=IMGSZ, conf=CONF)
    command = [sys.executable, "-c", script, str(weights), *clips]
    output = subprocess.run(command, env=environment, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, int(output.stdout.strip().splitlines()[-1])


def calls_per_frame(clips: list[dict], home: Path) -> dict[str, float]:
    """Model id -> frames inferred (all runs that wrote the stored detections) / frames of the clips."""
    inferred: dict[str, int] = {}
    for clip in clips:
        for path in (Path(clip["path"]).parent / "detections").glob("*.parquet"):
            stored = read_detections(path)
            inferred[stored.model_id] = inferred.get(stored.model_id, 0) + sum(e["frames"] for e in stored.produced_by)
    frames = sum(clip["last_video_frame"] - clip["first_video_frame"] + 1 for clip in clips)
    return {model_id: round(count / frames, 3) for model_id, count in inferred.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=68)
    parser.add_argument("--compute", nargs="+", default=["processes", "inprocess"], help="DATA_ENGINE_COMPUTE values")
    arguments = parser.parse_args()
    weights = tiny_weights()
    video = synthetic_h264(1080, arguments.seconds)
    base = {key: value for key, value in os.environ.items() if not key.startswith("DATA_ENGINE_")}
    base.setdefault("YOLO_OFFLINE", "1")
    detectors = {"DATA_ENGINE_DETECTORS": str(weights), "DATA_ENGINE_DETECTOR_IMGSZ": str(IMGSZ)}
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f}, repeats: {arguments.repeats}")
    with tempfile.TemporaryDirectory(prefix="bench-model-work-") as scratch_name:
        scratch = Path(scratch_name)
        template = scratch / "template"
        cli(template, base, "ingest", str(video))
        clips = json.loads(cli(template, base, "clips", "--json"))
        batch = _batch_key(template)
        frames = sum(clip["last_video_frame"] - clip["first_video_frame"] + 1 for clip in clips)
        print(f"file: {video.name}, {len(clips)} clips, {frames} frames; tiny detector at imgsz {IMGSZ}, conf {CONF}")
        print("| compute | mine s | autolabel s | ours s | Ultralytics stream s | theirs / ours | calls per frame |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for compute in arguments.compute:
            environment = {**base, **detectors, "DATA_ENGINE_COMPUTE": compute}
            runs, reference = [], []
            for _ in range(arguments.repeats):
                runs.append(ours(template, scratch, environment, batch))
                reference.append(theirs(weights, [clip["path"] for clip in clips], base))
            mine_s, label_s, home = min(runs, key=lambda run: run[0] + run[1])
            theirs_s = min(wall for wall, _ in reference)
            labelled = json.loads(cli(home, environment, "clips", "--json", "--status", "autolabelled"))
            calls = calls_per_frame(json.loads(cli(home, environment, "clips", "--json")), home)
            note = "" if len(labelled) == len(clips) else f" (only {len(labelled)} of {len(clips)} clips selected)"
            print(
                f"| {compute} | {mine_s:.2f} | {label_s:.2f} | {mine_s + label_s:.2f} | {theirs_s:.2f} | "
                f"{theirs_s / (mine_s + label_s):.2f} | {json.dumps(calls)}{note} |",
                flush=True,
            )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


def _batch_key(home: Path) -> str:
    """The one ingest batch of the template home."""
    from data_engine.catalog import Catalog

    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    try:
        (key,) = catalog.batch_keys()
    finally:
        catalog.dispose()
    return key


if __name__ == "__main__":
    main()
