"""Clip extraction, side by side in one run: ours (one-pass stream copy at probed cut points) vs ffmpeg's segmenter.

ffmpeg: `ffmpeg -fflags +genpts -i SRC -map 0:v:0 -c copy -f segment -segment_time 10 -reset_timestamps 1 %05d.mkv`
(video only, Matroska, like ours; without +genpts ffmpeg refuses the crowd AVI: "Can't write packet with unknown
timestamp"). Timings are the best of --repeat runs of each, alternated. Ours is timed without the probe (ingest
probes every video once anyway, and ffmpeg's segmenter does not decode); the probe's time is its own column.
Frame-exact: the decoded frames of all clips, concatenated, have the same MD5s as the source's decoded frames.

The open-GOP file has keyframes every 2 s but only the first is an IDR: the others have leading B-frames that
reference the previous GOP, so ours cannot copy-cut there (one long clip) while ffmpeg cuts anyway.

Run: .venv/bin/python bench/bench_clip_extraction.py [--minutes 3] [--repeat 3] [--no-digests]
The long 1080p H.264 file is generated once into ~/.cache/data-engine-bench (or $DATA_ENGINE_BENCH_CACHE).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_engine.video.clipper import ExtractedClip, extract_clips, frame_digests, plan_clips  # noqa: E402
from data_engine.video.probe import VideoProbe, probe_video  # noqa: E402
from tests.videos import make_test_video  # noqa: E402

SAMPLES = REPO.parent / "shared" / "videos"
CACHE = Path(os.environ.get("DATA_ENGINE_BENCH_CACHE", Path.home() / ".cache" / "data-engine-bench"))
CLIP_SECONDS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the generated 1080p H.264 video")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool; the best time counts")
    parser.add_argument("--no-digests", action="store_true", help="skip the frame-exactness check (decodes a lot)")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is not installed: this benchmark compares with it (apt-get install -y ffmpeg)")
    videos = [SAMPLES / "crowd_overhead_720p.avi", SAMPLES / "dancer_518x496.avi", long_video(args.minutes)]
    videos.append(cached_video("open_gop_720p_1min.mp4", frames=1500, size=(1280, 720), bframes=3, open_gop=True))
    rows = [bench_one(video, args.repeat, not args.no_digests) for video in videos]
    print_table(rows)


def long_video(minutes: float) -> Path:
    """A 1080p 25 fps H.264 MP4 with B-frames and a keyframe every 2 s."""
    return cached_video(f"moving_1080p_{minutes:g}min.mp4", frames=round(minutes * 60 * 25), size=(1920, 1080))


def cached_video(name: str, frames: int, size: tuple[int, int], bframes: int = 2, open_gop: bool = False) -> Path:
    """A generated H.264 MP4 (keyframe every 2 s at 25 fps), made once and kept in the cache folder."""
    path = CACHE / name
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} (once) ...", flush=True)
        partial = path.with_name(f".{path.name}.tmp-{os.getpid()}.mp4")
        make_test_video(
            partial, frames=frames, size=size, gop=50, bframes=bframes, open_gop=open_gop, preset="ultrafast"
        )
        os.replace(partial, path)
    return path


def bench_one(video: Path, repeat: int, check_digests: bool) -> dict[str, str]:
    print(f"{video.name}: probing ...", flush=True)
    started = time.perf_counter()
    probe = probe_video(video)
    probe_s = time.perf_counter() - started
    ours_s, ffmpeg_s = float("inf"), float("inf")
    with tempfile.TemporaryDirectory(prefix="bench-clips-") as scratch:
        ours_dir, ffmpeg_dir = Path(scratch) / "ours", Path(scratch) / "ffmpeg"
        for _ in range(repeat):
            shutil.rmtree(ours_dir, ignore_errors=True)
            shutil.rmtree(ffmpeg_dir, ignore_errors=True)
            elapsed, clips = timed_ours(video, probe, ours_dir)
            ours_s = min(ours_s, elapsed)
            ffmpeg_s = min(ffmpeg_s, timed_ffmpeg(video, ffmpeg_dir))
        ffmpeg_clips = sorted(ffmpeg_dir.glob("*.mkv"))
        exact_ours = exact_ffmpeg = "not checked"
        if check_digests:
            print(f"{video.name}: checking frames ...", flush=True)
            source = frame_digests(video)
            exact_ours = exactness(source, [clip.path for clip in clips])
            exact_ffmpeg = exactness(source, ffmpeg_clips)
    methods = sorted({clip.method for clip in clips})
    return {
        "file": video.name,
        "duration s": f"{probe.duration_s:.1f}",
        "frames": str(probe.frames),
        "probe s (ours)": f"{probe_s:.2f}",
        "ours s": f"{ours_s:.3f}",
        "ffmpeg s": f"{ffmpeg_s:.3f}",
        "ours/ffmpeg": f"{ours_s / ffmpeg_s:.2f}x",
        "clips ours/ffmpeg": f"{len(clips)}/{len(ffmpeg_clips)}",
        "ours method": "+".join(methods),
        "ours frame-exact": exact_ours,
        "ffmpeg frame-exact": exact_ffmpeg,
    }


def timed_ours(video: Path, probe: VideoProbe, out: Path) -> tuple[float, list[ExtractedClip]]:
    started = time.perf_counter()
    spans = plan_clips(probe, CLIP_SECONDS)
    clips = extract_clips(video, probe, spans, lambda span: out / f"{span.ordinal:05d}.mkv")
    return time.perf_counter() - started, clips


def timed_ffmpeg(video: Path, out: Path) -> float:
    out.mkdir(parents=True)
    command = ["ffmpeg", "-v", "error", "-fflags", "+genpts", "-i", str(video), "-map", "0:v:0", "-c", "copy"]
    command += ["-f", "segment", "-segment_time", f"{CLIP_SECONDS:g}", "-reset_timestamps", "1", str(out / "%05d.mkv")]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def exactness(source: list[str], clips: list[Path]) -> str:
    """ "yes", or how the concatenated clip frames differ from the source's."""
    decoded = [digest for clip in clips for digest in frame_digests(clip)]
    if decoded == source:
        return "yes"
    differing = sum(1 for mine, theirs in zip(decoded, source, strict=False) if mine != theirs)
    return f"no ({len(decoded)} vs {len(source)} frames, {differing} differ)"


def print_table(rows: list[dict[str, str]]) -> None:
    headers = list(rows[0])
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(row[header] for header in headers) + " |")


if __name__ == "__main__":
    main()
