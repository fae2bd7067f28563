"""Image-level mining throughput (features + triggers) against a bare PyAV decode of the same file, side by side.

Both loops decode with PyAV in the main thread, thread_type AUTO and the decoder's default thread count (all cores).
The bare loop takes each frame's luma plane and does nothing with it; the mining loop is
`compute_features` + `run_triggers`. Prints frames/s, times real time and mining / bare (goal >= 0.8).

    .venv/bin/python -m bench.bench_mining [--repeats 3] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from data_engine.mining.features import compute_features
from data_engine.mining.triggers import run_triggers
from data_engine.video.frames import luma_plane

SAMPLE_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "videos"
CACHE = Path.home() / ".cache" / "data-engine-bench"
FPS = 25


def synthetic_h264(height: int, seconds: int) -> Path:
    """A cached H.264 file at `height`p (16:9): a textured background panning back and forth with moving blobs,
    made once with PyAV's libx264."""
    width = height * 16 // 9
    path = CACHE / f"mining_{height}p_{seconds}s.mp4"
    if path.is_file():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(height)
    margin = width // 4
    noise = rng.integers(0, 256, (height + margin, width + margin, 3), dtype=np.uint8)
    texture = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), height / 180), None, 30, 220, cv2.NORM_MINMAX)
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, FPS)
        for index in range(seconds * FPS):
            phase = 2 * np.pi * index / (8 * FPS)
            x, y = int(margin / 2 * (1 + np.sin(phase))), int(margin / 2 * (1 + np.cos(phase)))
            image = np.ascontiguousarray(texture[y : y + height, x : x + width])
            for blob in range(4):
                centre = ((index * (3 + blob) + blob * width // 4) % width, height // 5 * (blob + 1))
                cv2.circle(image, centre, height // 12, (60 * blob, 200, 255 - 60 * blob), -1)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    partial.rename(path)
    return path


def bare_decode(path: Path) -> int:
    """Decode every frame and touch its luma plane: the floor any image-level miner pays."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            luma_plane(frame)
            count += 1
    return count


def mine(path: Path) -> int:
    features = compute_features(path)
    run_triggers(features)
    return len(features)


@dataclass(frozen=True)
class Measurement:
    """Best of the repeats: wall-clock frames/s and process CPU seconds (all threads) per frame."""

    frames: int
    frames_per_s: float
    cpu_ms_per_frame: float


def measure(run: Callable[[Path], int], path: Path) -> Measurement:
    wall, cpu = time.perf_counter(), time.process_time()
    frames = run(path)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Measurement(frames, frames / wall, 1000 * cpu / frames)


def best(measurements: list[Measurement]) -> Measurement:
    return Measurement(
        measurements[0].frames,
        max(m.frames_per_s for m in measurements),
        min(m.cpu_ms_per_frame for m in measurements),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each loop; the best is kept")
    parser.add_argument("--seconds", type=int, default=30, help="length of the generated 720p and 1080p files")
    arguments = parser.parse_args()
    files = [SAMPLE_VIDEOS / "crowd_overhead_720p.avi", SAMPLE_VIDEOS / "dancer_518x496.avi"]
    files += [synthetic_h264(720, arguments.seconds), synthetic_h264(1080, arguments.seconds)]
    print(f"cores: {os.cpu_count()}, repeats: {arguments.repeats} (alternating, best kept), mining width 160")
    print(
        "| file | size | frames | bare decode fps | mining fps | bare x real time | mining x real time | "
        "mining / bare (wall) | bare / mining (CPU) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in files:
        bare_runs, mining_runs = [], []
        for _ in range(arguments.repeats):
            bare_runs.append(measure(bare_decode, path))
            mining_runs.append(measure(mine, path))
        bare, mining = best(bare_runs), best(mining_runs)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            size = f"{stream.codec_context.width}x{stream.codec_context.height} {stream.codec_context.name}"
        print(
            f"| {path.name} | {size} | {bare.frames} | {bare.frames_per_s:.0f} | {mining.frames_per_s:.0f} | "
            f"{bare.frames_per_s / FPS:.1f} | {mining.frames_per_s / FPS:.1f} | "
            f"{mining.frames_per_s / bare.frames_per_s:.2f} | {bare.cpu_ms_per_frame / mining.cpu_ms_per_frame:.2f} |"
        )


if __name__ == "__main__":
    main()
