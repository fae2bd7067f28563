"""Generate small real video and audio files with PyAV for tests and benchmarks (no external ffmpeg needed).

Every frame differs (a moving square over a scrolling gradient), so per-frame digests are distinct and a lost or
doubled frame is visible.
"""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_test_video(
    path: str | Path,
    frames: int = 60,
    size: tuple[int, int] = (320, 240),
    fps: int | Fraction = 25,
    codec: str = "libx264",
    gop: int = 25,
    bframes: int = 0,
    open_gop: bool = False,
    audio: bool = False,
    faststart: bool = True,
    preset: str = "veryfast",
) -> Path:
    """Write `frames` frames of `size` (width, height) at `fps` with a keyframe every `gop` frames.

    codec: "libx264" (H.264, `bframes` B-frames, `open_gop` makes non-IDR keyframes with leading B-frames),
    "mpeg4" (MPEG-4 Part 2) or any other encoder the bundled ffmpeg has. The container follows the suffix
    (.mp4, .mkv, .avi); `faststart` puts the MP4 index first so a truncated copy stays readable. `audio` adds
    a sine tone track (AAC in MP4/MKV, MP3 in AVI). `preset` is libx264's speed/size trade-off.
    """
    path = Path(path)
    width, height = size
    options = {"movflags": "faststart"} if faststart and path.suffix.lower() in {".mp4", ".mov"} else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=fps, options=_encoder_options(codec, gop, bframes, open_gop, preset))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        if codec != "libx264":
            stream.codec_context.max_b_frames = bframes
        audio_stream = _add_audio_stream(container, path.suffix.lower()) if audio else None
        samples_done = 0
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(_pattern(index, width, height), format="yuv420p")
            frame.pts = index
            frame.time_base = 1 / Fraction(fps)
            container.mux(stream.encode(frame))
            if audio_stream is not None:
                samples_done = _mux_audio_until(container, audio_stream, samples_done, (index + 1) / fps)
        container.mux(stream.encode(None))
        if audio_stream is not None:
            container.mux(audio_stream.encode(None))
    return path


def make_audio_file(path: str | Path, seconds: float = 1.0, codec: str = "aac") -> Path:
    """Write an audio-only file (a sine tone) with `codec` (aac, mp3, flac, pcm_s16le); container from the suffix."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=_SAMPLE_RATE, layout="mono")
        _mux_audio_until(container, stream, 0, seconds)
        container.mux(stream.encode(None))
    return path


_SAMPLE_RATE = 44100
_AUDIO_CHUNK = 1024


def _encoder_options(codec: str, gop: int, bframes: int, open_gop: bool, preset: str) -> dict[str, str]:
    if codec != "libx264":
        return {}
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}:open-gop={int(open_gop)}"
    return {"preset": preset, "x264-params": params}


def _add_audio_stream(container: av.container.OutputContainer, suffix: str) -> av.AudioStream:
    return container.add_stream("mp3" if suffix == ".avi" else "aac", rate=_SAMPLE_RATE, layout="mono")


def _mux_audio_until(
    container: av.container.OutputContainer, stream: av.AudioStream, samples_done: int, seconds: float
) -> int:
    """Encode sine-tone samples up to `seconds` in fixed-size chunks; returns the new sample count."""
    chunk = stream.codec_context.frame_size or _AUDIO_CHUNK
    sample_format = stream.codec_context.format.name
    while samples_done + chunk <= seconds * _SAMPLE_RATE:
        times = (samples_done + np.arange(chunk)) / _SAMPLE_RATE
        tone = 0.2 * np.sin(2 * np.pi * 440.0 * times)
        data = _as_sample_format(tone, sample_format)
        frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format=sample_format, layout="mono")
        frame.sample_rate = _SAMPLE_RATE
        frame.pts = samples_done
        container.mux(stream.encode(frame))
        samples_done += chunk
    return samples_done


def _as_sample_format(tone: np.ndarray, sample_format: str) -> np.ndarray:
    if sample_format.startswith("s16"):
        return (tone * 0x7FFF).astype(np.int16)
    if sample_format.startswith("s32"):
        return (tone * 0x7FFFFFFF).astype(np.int32)
    return tone.astype(np.float32)


def _pattern(index: int, width: int, height: int) -> np.ndarray:
    """A yuv420p frame as the (height * 3 / 2, width) array PyAV expects: scrolling gradient + moving square."""
    columns = (np.arange(width, dtype=np.uint16) * 2 + index * 3) % 256
    rows = np.arange(height, dtype=np.uint16)[:, None]
    luma = ((columns[None, :] + rows) % 256).astype(np.uint8)
    side = max(8, min(width, height) // 6)
    x = (index * 7) % max(1, width - side)
    y = (index * 5) % max(1, height - side)
    luma[y : y + side, x : x + side] = 255 - (index % 64)
    chroma_u = np.full((height // 4, width), (index * 2) % 256, dtype=np.uint8)
    chroma_v = np.full((height // 4, width), 128, dtype=np.uint8)
    return np.concatenate([luma, chroma_u, chroma_v])


def remux_prefix(source: str | Path, path: str | Path, packets: int) -> Path:
    """Copy the first `packets` packets of `source`'s video stream into `path` (Matroska: .mkv) without
    re-encoding: a short real video, same codec, keyframes and timestamps."""
    path = Path(path)
    with av.open(str(source)) as src, av.open(str(path), "w") as dest:
        stream = src.streams.video[0]
        copy = dest.add_stream_from_template(stream)
        written = 0
        for packet in src.demux(stream):
            if not packet.size:
                continue
            if written == packets:
                break
            packet.stream = copy
            dest.mux(packet)
            written += 1
    return path


def short_samples(sample_videos: Path, folder: Path) -> list[Path]:
    """The two sample videos cut short (6 s of the crowd, 12 s of the dancer) for tests that run the whole job
    many times: same codecs, lying AVI timestamps kept, a few clips each."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        remux_prefix(sample_videos / "crowd_overhead_720p.avi", folder / "crowd.mkv", 150),
        remux_prefix(sample_videos / "dancer_518x496.avi", folder / "dancer.mkv", 300),
    ]
