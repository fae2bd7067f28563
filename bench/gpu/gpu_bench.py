"""The GPU path measured: decoding (CPU and NVDEC), detector images/s against Ultralytics' own streaming predict on
the same frames, and end-to-end clip throughput. Run by `bash bench/gpu/run.sh` (see bench/gpu/README.md).

Every part is guarded (its error is recorded and the next part runs), progress goes to stdout, and the results
JSON is rewritten after each part, so a run cut short still leaves what it measured. Parts stop starting once the
time budget is spent.

    python -m bench.gpu.gpu_bench --out results.json [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CARRIED = REPO / ".whl"
WORK = Path(os.environ.get("DATA_ENGINE_BENCH_CACHE", Path.home() / ".cache" / "data-engine-bench"))
CONF = 0.1


class Bench:
    """Results, errors and the time budget of one run."""

    def __init__(self, out: Path, budget_s: float) -> None:
        self.out = out
        self.deadline = time.monotonic() + budget_s
        self.results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "parts": {}, "errors": {}}

    def part(self, name: str, run: Callable[[], Any]) -> Any:
        if time.monotonic() > self.deadline:
            self.results["errors"][name] = "skipped: time budget spent"
            print(f"[skip] {name}: time budget spent", flush=True)
            return None
        print(f"[....] {name}", flush=True)
        started = time.perf_counter()
        try:
            value = run()
        except Exception as error:  # one broken part must not cost the others
            self.results["errors"][name] = f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=6)}"
            print(f"[FAIL] {name}: {type(error).__name__}: {error}", flush=True)
            value = None
        else:
            self.results["parts"][name] = value
            print(f"[ ok ] {name} ({time.perf_counter() - started:.1f} s): {json.dumps(value)[:600]}", flush=True)
        self.save()
        return value

    def save(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.results, indent=2, default=str))


def environment() -> dict[str, Any]:
    import av
    import torch
    from av.codec.hwaccel import hwdevices_available

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "av": av.__version__,
        "av_hwdevices": list(hwdevices_available()),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    try:
        import ultralytics

        info["ultralytics"] = ultralytics.__version__
    except ImportError as error:
        info["ultralytics"] = f"missing: {error}"
    return info


def tiny_weights() -> Path:
    """The carried tiny detector (trained, .whl/tiny.pt), else the tiny architecture with random weights."""
    if (CARRIED / "tiny.pt").is_file():
        return CARRIED / "tiny.pt"
    return random_weights("tiny", _tiny_yaml())


def _tiny_yaml() -> str:
    from data_engine.training.tiny import tiny_model_yaml

    return str(tiny_model_yaml(WORK / "gpu"))


def random_weights(name: str, architecture: str) -> Path:
    """A checkpoint of `architecture` (an Ultralytics yaml) at random initialisation: speed does not need accuracy."""
    from ultralytics import YOLO

    path = WORK / "gpu" / f"{name}-random.pt"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        YOLO(architecture).save(str(path))
    return path


def decoded_frames(video: Path, count: int) -> list[Any]:
    from data_engine.video.frames import iter_frames

    return [frame.image for frame in iter_frames(video) if frame.index < count]


def decode_rates(video: Path, hwaccel: str | None, convert: bool) -> dict[str, Any]:
    """Frames/s of decoding every frame (on the CPU, or NVDEC without software fallback), optionally to BGR."""
    import av
    from av.codec.hwaccel import HWAccel

    options = {} if hwaccel is None else {"hwaccel": HWAccel(hwaccel, allow_software_fallback=False)}
    started = time.perf_counter()
    count = 0
    with av.open(str(video), **options) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if convert:
                frame.to_ndarray(format="bgr24")
            count += 1
    seconds = time.perf_counter() - started
    return {"frames": count, "seconds": round(seconds, 3), "fps": round(count / seconds, 1)}


def ours_images_per_s(weights: Path, imgsz: int, device: str, frames: list[Any], batch: int) -> dict[str, Any]:
    """`UltralyticsDetector.predict` on frames already in memory (half precision on CUDA), after one warm-up batch."""
    from data_engine.detectors import UltralyticsDetector

    detector = UltralyticsDetector(weights, imgsz=imgsz, conf=CONF, device=device, batch=batch)
    detector.predict(frames[:batch])
    _sync()
    started = time.perf_counter()
    found = detector.predict(frames)
    _sync()
    seconds = time.perf_counter() - started
    return {
        "images": len(frames),
        "batch": batch,
        "half": detector.half,
        "seconds": round(seconds, 3),
        "images_per_s": round(len(frames) / seconds, 1),
        "boxes": sum(len(d) for d in found),
    }


def ultralytics_stream(weights: Path, imgsz: int, device: str, video: Path) -> dict[str, Any]:
    """Ultralytics' own loop: `predict(source=video, stream=True)`, its defaults, half precision on CUDA."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    half = {"quantize": 16} if device.startswith("cuda") else {}
    for _ in model.predict(
        source=str(video), stream=True, imgsz=imgsz, conf=CONF, device=device, verbose=False, **half
    ):
        break  # warm-up: model on the device, predictor built
    started = time.perf_counter()
    frames = boxes = 0
    for result in model.predict(
        source=str(video), stream=True, imgsz=imgsz, conf=CONF, device=device, verbose=False, **half
    ):
        frames += 1
        boxes += len(result.boxes)
    _sync()
    seconds = time.perf_counter() - started
    return {"frames": frames, "seconds": round(seconds, 3), "fps": round(frames / seconds, 1), "boxes": boxes}


def ours_stream(weights: Path, imgsz: int, device: str, video: Path, hwaccel: str | None) -> dict[str, Any]:
    """Our streaming loop over the same video: decoding thread + bounded queue + batched half-precision inference."""
    from data_engine.autolabel.stream import detect_stream
    from data_engine.detectors import UltralyticsDetector

    detector = UltralyticsDetector(weights, imgsz=imgsz, conf=CONF, device=device)
    detector.predict(decoded_frames(video, detector.batch))  # warm-up, as for Ultralytics
    _sync()
    started = time.perf_counter()
    streamed = detect_stream(video, [detector], hwaccel=hwaccel)
    _sync()
    seconds = time.perf_counter() - started
    boxes = sum(len(d) for d in streamed.per_model[detector.model_id] if d is not None)
    return {
        "frames": streamed.frame_count,
        "batch": detector.batch,
        "half": detector.half,
        "hwaccel": hwaccel,
        "seconds": round(seconds, 3),
        "fps": round(streamed.frame_count / seconds, 1),
        "boxes": boxes,
    }


def end_to_end(weights: Path, imgsz: int, device: str, video: Path, folder: Path) -> dict[str, Any]:
    """A clip through the product's per-clip jobs, in this process: model-level mining (one decode, every frame
    inferred and stored, triggers) then autolabelling (stored detections replayed, hindsight, label file), as
    `data-engine mine` + `autolabel` run them on a worker. Without scipy (triggers and hindsight need it) only their
    inference part runs: the same two passes of `detect_clip_once`."""
    import importlib.util

    if importlib.util.find_spec("scipy") is None:
        return inference_end_to_end(weights, imgsz, device, video, folder)
    import shutil

    from data_engine.detectors import UltralyticsDetector
    from data_engine.detectors.cache import source_of
    from data_engine.mining.features import compute_features, write_features
    from data_engine.stages.autolabel import AutolabelJob, clip_autolabel_job
    from data_engine.stages.mine import MiningJob, clip_mining_job

    shutil.rmtree(folder, ignore_errors=True)
    clip = folder / "clip.mp4"
    folder.mkdir(parents=True)
    shutil.copyfile(video, clip)
    features = write_features(compute_features(clip), folder / "features.parquet")
    detector = UltralyticsDetector(weights, imgsz=imgsz, conf=CONF, device=device)
    detector.predict(decoded_frames(video, detector.batch))
    sources = (source_of(detector),)
    started = time.perf_counter()
    mined = clip_mining_job(MiningJob(str(clip), str(features), str(folder / "detections"), sources))
    mined_s = time.perf_counter() - started
    labelled = clip_autolabel_job(AutolabelJob("bench", str(clip), str(folder / "detections"), sources))
    total_s = time.perf_counter() - started
    if mined.error or labelled.error or labelled.stats is None:
        raise RuntimeError(f"mining: {mined.error}; autolabel: {labelled.error}")
    frames = labelled.stats.frames
    return {
        "frames": frames,
        "mining_s": round(mined_s, 3),
        "autolabel_s": round(total_s - mined_s, 3),
        "total_s": round(total_s, 3),
        "fps": round(frames / total_s, 1),
        "frames_inferred": {"mining": dict(mined.frames_inferred), "autolabel": dict(labelled.frames_inferred)},
        "hits": len(mined.hits),
        "boxes": labelled.stats.boxes,
    }


def inference_end_to_end(weights: Path, imgsz: int, device: str, video: Path, folder: Path) -> dict[str, Any]:
    import shutil

    from data_engine.autolabel.stream import detect_clip_once
    from data_engine.detectors import UltralyticsDetector

    shutil.rmtree(folder, ignore_errors=True)
    detector = UltralyticsDetector(weights, imgsz=imgsz, conf=CONF, device=device)
    detector.predict(decoded_frames(video, detector.batch))
    started = time.perf_counter()
    mined = detect_clip_once(video, [detector], folder / "detections", every=1)
    mined_s = time.perf_counter() - started
    labelled = detect_clip_once(video, [detector], folder / "detections", every=1)
    total_s = time.perf_counter() - started
    frames = labelled.streamed.frame_count
    return {
        "mode": "inference only (no scipy here: triggers and hindsight skipped)",
        "frames": frames,
        "mining_s": round(mined_s, 3),
        "autolabel_s": round(total_s - mined_s, 3),
        "total_s": round(total_s, 3),
        "fps": round(frames / total_s, 1),
        "frames_inferred": {"mining": mined.inferred_frames, "autolabel": labelled.inferred_frames},
    }


def onnx_models() -> dict[str, Path]:
    """The two real ONNX detectors: carried in .whl/models (prepare.sh), else ../shared/models beside the checkout."""
    found = {}
    for name in ("yolox_nano", "fastestdet"):
        for folder in (CARRIED / "models", REPO.parent / "shared" / "models", REPO / "shared" / "models"):
            if (folder / f"{name}.onnx").is_file():
                found[name] = folder / f"{name}.onnx"
                break
    return found


def onnx_against_bare(path: Path, frames: list[Any], repeats: int) -> dict[str, Any]:
    """`OnnxDetector.predict` (CUDA provider when onnxruntime offers it, else the CPU) against a bare onnxruntime
    loop with the same session options and providers (minimal preprocessing and `session.run`, no decoding or NMS),
    on the same frames in memory; one warm-up call each, alternating runs, best of `repeats` (bench/bench_onnx.py)."""
    import onnxruntime as ort

    from bench.bench_onnx import bare_loop, engine_loop, session, side_by_side
    from data_engine.detectors.onnx_detector import OnnxDetector

    detector = OnnxDetector(path, conf=CONF, classes=("person",))
    providers = detector.session.get_providers()
    bare = bare_loop(detector.family.name, session(path, providers))
    ours_fps, bare_fps = side_by_side(engine_loop(detector), bare, frames, repeats)
    return {
        "onnxruntime": ort.__version__,
        "available_providers": ort.get_available_providers(),
        "providers": providers,
        "frames": len(frames),
        "frame_size": list(frames[0].shape[:2]) if frames else None,
        "engine_fps": round(ours_fps, 1),
        "bare_fps": round(bare_fps, 1),
        "engine_over_bare": round(ours_fps / bare_fps, 3),
    }


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="a tiny CPU-sized run that checks the script")
    parser.add_argument("--budget-s", type=float, default=420.0, help="no part starts after this many seconds")
    arguments = parser.parse_args()
    bench = Bench(arguments.out, arguments.budget_s)
    quick = arguments.quick
    bench.part("environment", environment)
    import torch

    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    bench.results["device"] = device
    height, seconds, frame_count = (240, 2, 32) if quick else (1080, 30, 512)
    from bench.bench_mining import synthetic_h264

    made = bench.part("video", lambda: str(synthetic_h264(height, seconds)))
    if made is None:
        return
    video = Path(made)
    for label, hwaccel, convert in (
        ("decode_cpu", None, False),
        ("decode_cpu_bgr", None, True),
        ("decode_nvdec", "cuda", False),
        ("decode_nvdec_bgr", "cuda", True),
    ):
        bench.part(label, lambda h=hwaccel, c=convert: decode_rates(video, h, c))
    frames = bench.part("frames_in_memory", lambda: len(decoded_frames(video, frame_count)))
    cached = decoded_frames(video, frame_count) if frames else []
    models = [
        ("tiny", lambda: tiny_weights(), 160),
        ("tiny_640", lambda: tiny_weights(), 640),
        ("yolo11n_random", lambda: random_weights("yolo11n", "yolo11n.yaml"), 640),
    ]
    for name, weights_of, imgsz in models[:1] if quick else models:
        weights = bench.part(f"{name}/weights", lambda w=weights_of: str(w()))
        if weights is None:
            continue
        path = Path(weights)
        for batch in (16,) if quick else (16, 64, 128):
            bench.part(
                f"{name}/ours_images_per_s_batch{batch}",
                lambda p=path, s=imgsz, b=batch: ours_images_per_s(p, s, device, cached, b),
            )
        bench.part(
            f"{name}/ultralytics_predict_stream", lambda p=path, s=imgsz: ultralytics_stream(p, s, device, video)
        )
        bench.part(f"{name}/ours_stream_cpu_decode", lambda p=path, s=imgsz: ours_stream(p, s, device, video, None))
        if device.startswith("cuda"):
            bench.part(f"{name}/ours_stream_nvdec", lambda p=path, s=imgsz: ours_stream(p, s, device, video, "cuda"))
    onnx = bench.part("onnx/models", lambda: {name: str(path) for name, path in onnx_models().items()}) or {}
    if cached:
        onnx_frames = cached[:64] if quick else cached
        for name, path in onnx.items():
            bench.part(f"onnx/{name}", lambda p=Path(path): onnx_against_bare(p, onnx_frames, 1 if quick else 3))
    tiny = bench.results["parts"].get("tiny/weights")
    if tiny:
        bench.part("end_to_end_tiny", lambda: end_to_end(Path(tiny), 160, device, video, WORK / "gpu" / "clip"))
    bench.results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    bench.save()
    print(f"results: {arguments.out}", flush=True)


if __name__ == "__main__":
    main()
