"""Autolabel throughput against Ultralytics' own streaming predict loop, and hindsight quality against raw detections.

Throughput: `autolabel_clip` (decode in a thread + batched inference + fusion-free hindsight) versus
`YOLO(weights).predict(source=video, stream=True)` on the same clip, model, imgsz and conf, alternating runs, best
of the repeats. Quality: on a longer proving-ground clip, hindsight labels versus the raw per-frame detections of
the same weak model (at its usual conf 0.25, and at the best conf in hindsight of the truth, to be fair to raw).

    python -m bench.bench_autolabel [--seconds 20] [--repeats 2] [--quality-seconds 60]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
CACHE = Path(os.environ.get("DATA_ENGINE_BENCH_CACHE", Path.home() / ".cache" / "data-engine-bench")) / "autolabel"
os.environ.setdefault("YOLO_CONFIG_DIR", str(CACHE / "yolo-config"))

from data_engine.autolabel import HindsightParams, autolabel_clip, evaluate  # noqa: E402
from data_engine.detectors import UltralyticsDetector  # noqa: E402
from data_engine.synthetic import generate  # noqa: E402
from tests.model_fixtures import TINY_IMGSZ, make_proving_ground, train_tiny_detector  # noqa: E402

RAW_CONF = 0.25
HINDSIGHT_CONF = 0.05


def tiny_weights() -> Path:
    """The test suite's primary tiny detector, trained once and cached."""
    marker = CACHE / "tiny_weights.txt"
    if marker.exists() and Path(marker.read_text()).is_file():
        return Path(marker.read_text())
    ground = make_proving_ground(CACHE / "proving_ground")
    weights = train_tiny_detector(ground.data_yaml, CACHE / "tiny", seed=1, epochs=20)
    marker.write_text(str(weights))
    return weights


def untrained_yolo11n() -> Path:
    """yolo11n at random initialisation: the cost of a real-size model (throughput does not need accuracy)."""
    path = CACHE / "yolo11n-untrained.pt"
    if not path.exists():
        from ultralytics import YOLO

        YOLO("yolo11n.yaml").save(str(path))
    return path


def ours(video: Path, weights: Path, imgsz: int) -> tuple[int, float]:
    detector = UltralyticsDetector(weights, imgsz=imgsz, conf=RAW_CONF, batch=16)
    started = time.perf_counter()
    result = autolabel_clip(video, [detector])
    return result.frame_count, time.perf_counter() - started


def theirs(video: Path, weights: Path, imgsz: int) -> tuple[int, float]:
    from ultralytics import YOLO

    model = YOLO(str(weights))
    started = time.perf_counter()
    frames = sum(1 for _ in model.predict(source=str(video), stream=True, imgsz=imgsz, conf=RAW_CONF, verbose=False))
    return frames, time.perf_counter() - started


def throughput(video: Path, label: str, weights: Path, imgsz: int, repeats: int) -> None:
    best_ours = best_theirs = float("inf")
    frames = 0
    for _ in range(repeats):
        frames, seconds = ours(video, weights, imgsz)
        best_ours = min(best_ours, seconds)
        their_frames, seconds = theirs(video, weights, imgsz)
        best_theirs = min(best_theirs, seconds)
        if their_frames != frames:
            print(f"  warning: ultralytics saw {their_frames} frames, we saw {frames}")
    ours_fps, theirs_fps = frames / best_ours, frames / best_theirs
    print(f"{label:<28} {imgsz:>5} {frames:>6} {ours_fps:>10.1f} {theirs_fps:>12.1f} {ours_fps / theirs_fps:>8.2f}")


def quality(weights: Path, seconds: float) -> None:
    clip = generate(CACHE / "quality", seed=11, seconds=seconds)
    truth = clip.truth()
    detector = UltralyticsDetector(weights, imgsz=TINY_IMGSZ, conf=HINDSIGHT_CONF)
    result = autolabel_clip(clip.video_path, [detector], HindsightParams())
    raw = result.raw[detector.model_id]
    rows = [(f"raw conf {RAW_CONF}", evaluate([f.with_min_confidence(RAW_CONF) for f in raw], truth))]
    best_conf = max(
        (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5),
        key=lambda conf: evaluate([f.with_min_confidence(conf) for f in raw], truth).f1,
    )
    rows.append((f"raw best conf {best_conf}", evaluate([f.with_min_confidence(best_conf) for f in raw], truth)))
    rows.append(("hindsight", evaluate(result.frames, truth)))
    print(f"\nquality: proving ground seed 11, {truth.frame_count} frames, IoU 0.5, class-aware, visibility >= 0.5")
    print(f"{'labels':<22} {'precision':>9} {'recall':>7} {'F1':>6} {'TP':>6} {'FP':>6} {'FN':>6}")
    for name, metrics in rows:
        print(
            f"{name:<22} {metrics.precision:>9.3f} {metrics.recall:>7.3f} {metrics.f1:>6.3f} "
            f"{metrics.true_positives:>6} {metrics.false_positives:>6} {metrics.false_negatives:>6}"
        )
    stats = result.stats
    print(
        f"hindsight: {stats.tracks} tracks, {stats.spurious_tracks_removed} spurious and "
        f"{stats.duplicate_tracks_removed} duplicate tracks removed, {stats.gaps_filled} gaps filled "
        f"({stats.boxes_interpolated} boxes), {stats.class_flips_fixed} class flips fixed"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quality-seconds", type=float, default=60)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    weights = tiny_weights()
    video = generate(CACHE / "throughput", seed=5, seconds=args.seconds, size=(640, 360)).video_path
    print(f"throughput: {video.name}, frames/s, best of {args.repeats}")
    print(f"{'model':<28} {'imgsz':>5} {'frames':>6} {'ours f/s':>10} {'ultralytics':>12} {'ratio':>8}")
    throughput(video, "tiny (0.28 M params)", weights, TINY_IMGSZ, args.repeats)
    throughput(video, "yolo11n (untrained)", untrained_yolo11n(), 640, args.repeats)
    quality(weights, args.quality_seconds)


if __name__ == "__main__":
    main()
