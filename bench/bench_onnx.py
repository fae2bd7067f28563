"""The engine's ONNX detector against a bare onnxruntime loop over the same decoded frames, side by side.

Both real detectors of `../shared/models` (YOLOX-Nano 416x416, FastestDet 352x352) on two footages decoded once to
BGR before timing: the 71 frames of `../shared/sequences/TUD-Campus/img1/*.jpg` (cv2.imread, 640x480) and the first
200 frames of `../shared/videos/crowd_overhead_720p.avi` (PyAV, bgr24). Ours: `OnnxDetector(path, conf=0.1,
classes=("person",)).predict(frames)` (preparation of the next frame in a thread while onnxruntime runs, decoding,
class filter, NMS). Bare: a session with the same options (intra-op threads = usable cores, ORT_ENABLE_ALL, CPU
provider) and a plain loop of the minimal preprocessing the model needs (yolox: letterbox at the top-left, fill 114,
float32 NCHW 0-255; fastestdet: resize, / 255) and `session.run`, no decoding, no NMS. One warm-up call each, then
alternating runs (ours, bare, ours, bare, ...), best of the repeats; the ratio is ours / bare frames/s (goal >= 0.9).
`--profile` adds a cProfile of one `predict` per model and footage (top functions by total time).

    .venv/bin/python -m bench.bench_onnx [--repeats 3] [--video-frames 200] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MODELS = {"yolox_nano": SHARED / "models" / "yolox_nano.onnx", "fastestdet": SHARED / "models" / "fastestdet.onnx"}
SEQUENCE = SHARED / "sequences" / "TUD-Campus" / "img1"
VIDEO = SHARED / "videos" / "crowd_overhead_720p.avi"
CONF = 0.1


def sequence_frames(folder: Path = SEQUENCE) -> list[np.ndarray]:
    return [cv2.imread(str(path)) for path in sorted(folder.glob("*.jpg"))]


def video_frames(video: Path = VIDEO, count: int = 200) -> list[np.ndarray]:
    """The first `count` frames as BGR arrays (PyAV; OpenCV when PyAV is missing)."""
    frames: list[np.ndarray] = []
    try:
        import av
    except ImportError:
        capture = cv2.VideoCapture(str(video))
        while len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
        return frames
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) >= count:
                break
    return frames


def session(path: Path, providers: Sequence[str] = ("CPUExecutionProvider",)) -> Any:
    """An onnxruntime session with the engine's options (`onnx_detector._session`), on the given providers."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = len(os.sched_getaffinity(0))
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=options, providers=list(providers))


def letterbox(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """YOLOX's `preproc`: resized keeping the aspect, at the top-left of a 114 canvas, float32 NCHW 0-255."""
    height, width = size
    ratio = min(height / frame.shape[0], width / frame.shape[1])
    resized = cv2.resize(frame, (int(frame.shape[1] * ratio), int(frame.shape[0] * ratio)))
    canvas = np.full((height, width, 3), 114, dtype=np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)


def resized(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """FastestDet's runtime example: a plain resize, float32 NCHW / 255."""
    height, width = size
    image = cv2.resize(frame, (width, height))
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


PREPARE: dict[str, Callable[[np.ndarray, tuple[int, int]], np.ndarray]] = {
    "yolox": letterbox,
    "fastestdet": resized,
}
"""The bare preprocessing by the engine's family name."""


def bare_loop(family: str, runtime: Any) -> Callable[[Sequence[np.ndarray]], int]:
    """The bare loop: preprocess one frame, run it, keep the raw output (no decoding, no NMS)."""
    model_input = runtime.get_inputs()[0]
    name, size, prepare = model_input.name, (int(model_input.shape[2]), int(model_input.shape[3])), PREPARE[family]

    def run(frames: Sequence[np.ndarray]) -> int:
        outputs = [runtime.run(None, {name: prepare(frame, size)})[0] for frame in frames]
        return len(outputs)

    return run


def engine_loop(detector: Any) -> Callable[[Sequence[np.ndarray]], int]:
    def run(frames: Sequence[np.ndarray]) -> int:
        return sum(len(found) for found in detector.predict(frames))

    return run


def timed(loop: Callable[[Sequence[np.ndarray]], int], frames: Sequence[np.ndarray]) -> float:
    started = time.perf_counter()
    loop(frames)
    return time.perf_counter() - started


def side_by_side(
    ours: Callable[[Sequence[np.ndarray]], int],
    bare: Callable[[Sequence[np.ndarray]], int],
    frames: Sequence[np.ndarray],
    repeats: int,
) -> tuple[float, float]:
    """Best-of-`repeats` frames/s of both loops, alternating, after one warm-up call each."""
    ours(frames[:2])
    bare(frames[:2])
    ours_s, bare_s = [], []
    for _ in range(repeats):
        ours_s.append(timed(ours, frames))
        bare_s.append(timed(bare, frames))
    return len(frames) / min(ours_s), len(frames) / min(bare_s)


def profile(loop: Callable[[Sequence[np.ndarray]], int], frames: Sequence[np.ndarray], top: int = 14) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    loop(frames)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


def main() -> None:
    from data_engine.detectors.onnx_detector import OnnxDetector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--video-frames", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="cProfile one predict per model and footage")
    arguments = parser.parse_args()
    footages = {
        "TUD-Campus (71 jpg, 640x480)": sequence_frames(),
        f"{VIDEO.stem} (first {arguments.video_frames}, 1280x720)": video_frames(count=arguments.video_frames),
    }
    cores = len(os.sched_getaffinity(0))
    print(f"cores: {cores} usable ({os.cpu_count()} in all), load average at start: {_load()}, repeats: "
          f"{arguments.repeats}; frames: " + ", ".join(
              f"{name} {len(frames)} x {frames[0].shape[1]}x{frames[0].shape[0]}" for name, frames in footages.items()
          ))  # fmt: skip
    print("| model | footage | engine frames/s | bare frames/s | engine / bare |")
    print("| --- | --- | --- | --- | --- |")
    profiles: list[str] = []
    for model, path in MODELS.items():
        detector = OnnxDetector(path, conf=CONF, classes=("person",))
        ours, bare = engine_loop(detector), bare_loop(detector.family.name, session(path))
        for footage, frames in footages.items():
            ours_fps, bare_fps = side_by_side(ours, bare, frames, arguments.repeats)
            print(f"| {model} | {footage} | {ours_fps:.1f} | {bare_fps:.1f} | {ours_fps / bare_fps:.2f} |", flush=True)
            if arguments.profile:
                profiles.append(f"== {model}, {footage}: engine\n{profile(ours, frames)}")
                profiles.append(f"== {model}, {footage}: bare\n{profile(bare, frames, top=6)}")
    print(f"load average at end: {_load()}")
    for text in profiles:
        print(text)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
