"""Probe a video by decoding it: true frame count and rate, keyframes, and where it can be cut without re-encoding.

Container headers lie (an AVI claiming twice its real rate and frame count, a last frame that never decodes), so
every number here comes from demuxing and decoding the whole video stream once.
"""

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from statistics import median
from typing import Any

import av

from data_engine.errors import EngineError
from data_engine.video.frames import (
    THUMBNAIL_DECODING,
    DecodedFrame,
    DecodeOutcome,
    decode_video,
    display_rotation,
    normalised_rotation,
    pts_seconds,
)

FrameCallback = Callable[[int, DecodedFrame, float], None]
"""Called as `on_frame(index, decoded, pts_s)` with each frame the probe decodes, in presentation order."""


class VideoError(EngineError):
    """A file that cannot be used as a video; the message says why in plain words."""


@dataclass(frozen=True)
class VideoProbe:
    """What decoding a video found.

    Frame indices are positions in presentation (display) order among the decodable frames, 0-based. Packet
    indices are positions in the demux order of the video stream's non-empty packets (what `decode_video` counts).
    `cut_frames` are the keyframes where a stream copy can start a clip and still decode to exactly the source's
    frames: every frame before them comes from earlier packets and every frame from them on from later ones (no
    open-GOP leading pictures); frame 0 is always one. `cut_packets[i]` is the packet of `cut_frames[i]` and
    `packet_end` is one past the last packet that produced a frame.

    Times come from the frames' presentation timestamps, relative to the first frame: `cut_times[i]` is when
    `cut_frames[i]` is shown and `duration_s` when the last frame ends. A constant-rate stream's timestamps are
    put on its exact rate's grid (30 fps stays 30, 29.97 is 30000/1001, a dropped frame leaves its gap);
    a variable-rate one keeps them as they are, and `fps_min`/`fps_max` give the range of its rate (equal to
    `fps`, the typical rate, when it is constant).

    `width` and `height` are the coded picture's; `rotation` is the clockwise quarter turn (0, 90, 180, 270) that
    shows it upright, from the stream's display matrix or else its `rotate` tag. Every image the engine writes is
    turned by it (`frames.display_rotation`).
    """

    container: str
    codec: str
    width: int
    height: int
    pixel_format: str
    fps: float
    frames: int
    duration_s: float
    header_fps: float | None
    header_frames: int | None
    has_audio: bool
    truncated: bool
    decode_error: str | None
    keyframes: tuple[int, ...]
    cut_frames: tuple[int, ...]
    cut_packets: tuple[int, ...]
    packet_end: int
    cut_times: tuple[float, ...] = ()
    fps_min: float | None = None
    fps_max: float | None = None
    rotation: int = 0

    @property
    def variable_rate(self) -> bool:
        return self.fps_min is not None and self.fps_max is not None and self.fps_min != self.fps_max

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "VideoProbe":
        """Read back `dataclasses.asdict(probe)` as stored in probe.json (lists become tuples again)."""
        fields: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value for key, value in document.items()
        }
        return cls(**fields)


def probe_video(path: str | Path, on_frame: FrameCallback | None = None) -> VideoProbe:
    """Decode the first video stream of `path` and describe it; raises VideoError when it is not a usable video.

    `on_frame` sees every decoded frame (the ones counted in `frames`), so work that needs the pixels, such as the
    mining features, rides on this pass instead of decoding the video again; the pass decodes with
    `THUMBNAIL_DECODING`, as `compute_features` does, since nothing looks at its full-size pixels.
    """
    path = Path(path)
    _check_file(path)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise VideoError(
            f"not a media file: {_reason(error)} (if it is a video, its header or index is missing or damaged,"
            " e.g. an MP4 cut short before its index)"
        ) from error
    with container:
        stream = first_video_stream(container)
        stream.thread_type = "AUTO"
        stream.codec_context.options = dict(THUMBNAIL_DECODING)
        outcome = DecodeOutcome()
        turns: list[int] = []

        def seen(index: int, decoded: DecodedFrame, pts_s: float) -> None:
            if index == 0:
                turns.append(display_rotation(decoded.frame))
            if on_frame is not None:
                on_frame(index, decoded, pts_s)

        try:
            sources, timestamps = _decode_sources(container, stream, outcome, seen)
        except av.error.FFmpegError as error:
            raise VideoError(f"no decodable frames: {_reason(error)}") from error
        if not sources:
            raise VideoError(f"no decodable frames{': ' + outcome.stop_reason if outcome.stop_reason else ''}")
        rate = _measured_rate(timestamps, stream)
        timing = _frame_timing(timestamps, len(sources), rate, stream.time_base)
        keyframe_packets = set(outcome.keyframe_packets)
        cut_frames, cut_packets = _cut_points(sources, keyframe_packets)
        return VideoProbe(
            container=container.format.name,
            codec=stream.codec_context.name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            pixel_format=stream.codec_context.pix_fmt or "unknown",
            fps=_rounded(rate),
            frames=len(sources),
            duration_s=timing.duration_s,
            header_fps=float(stream.average_rate) if stream.average_rate else None,
            header_frames=stream.frames or None,
            has_audio=bool(container.streams.audio),
            truncated=outcome.stop_reason is not None,
            decode_error=outcome.stop_reason,
            keyframes=tuple(index for index, packet in enumerate(sources) if packet in keyframe_packets),
            cut_frames=cut_frames,
            cut_packets=cut_packets,
            packet_end=max(sources) + 1,
            cut_times=tuple(timing.times[frame] for frame in cut_frames),
            fps_min=timing.fps_min,
            fps_max=timing.fps_max,
            rotation=(turns[0] if turns else 0) or _rotate_tag(stream),
        )


def _rotate_tag(stream: av.VideoStream) -> int:
    """The clockwise turn of an old-style `rotate` metadata tag (written by phones and older FFmpeg), 0 without."""
    tag = next((value for key, value in stream.metadata.items() if key.lower() == "rotate"), None)
    try:
        return normalised_rotation(float(tag)) if tag else 0
    except ValueError:
        return 0


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"file not found: {path}")
    if not path.is_file():
        raise VideoError(f"not a file: {path}")
    if path.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")


def first_video_stream(container: av.container.InputContainer) -> av.VideoStream:
    """The first real video stream; cover art attached to audio files does not count."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    if container.streams.audio:
        raise VideoError("not a video: no video stream (audio only)")
    raise VideoError("not a video: no video stream")


def _decode_sources(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    outcome: DecodeOutcome,
    on_frame: FrameCallback | None = None,
) -> tuple[list[int], list[Fraction]]:
    """Source packet index of every decoded frame in presentation order, and the packet timestamps in seconds."""
    sources: list[int] = []
    timestamps: list[Fraction] = []
    time_base = stream.time_base
    for index, decoded in enumerate(decode_video(container, stream, outcome)):
        sources.append(decoded.packet_index)
        if decoded.packet_pts is not None and time_base is not None:
            timestamps.append(decoded.packet_pts * time_base)
        if on_frame is not None:
            on_frame(index, decoded, pts_seconds(decoded, stream, index))
    return sources, timestamps


def _measured_rate(timestamps: list[Fraction], stream: av.VideoStream) -> Fraction:
    """Frame rate from the spacing of the frames' timestamps: the mean of the intervals close to the median one.

    Sorting undoes reordering; ignoring intervals far from the median discards gaps and a short last frame;
    averaging the rest recovers rates that a millisecond time base rounds (29.97 stored as 33/34 ms).
    """
    unique = sorted(set(timestamps))
    intervals = [later - earlier for earlier, later in itertools.pairwise(unique)]
    if intervals:
        typical = median(intervals)
        regular = [interval for interval in intervals if 0.5 * typical < interval < 1.5 * typical]
        return _snap_rate(len(regular) / sum(regular, Fraction(0)))
    header_rate = stream.guessed_rate or stream.average_rate
    if header_rate:
        return _snap_rate(Fraction(header_rate))
    raise VideoError("no frame rate: the video has one timestamp and no rate in its header")


_COMMON_RATES = tuple(
    Fraction(rate)
    for rate in (Fraction(24000, 1001), 24, 25, Fraction(30000, 1001), 30, 48, 50, Fraction(60000, 1001), 60, 100, 120)
)


def _snap_rate(rate: Fraction) -> Fraction:
    """The nearest standard rate when within 0.5 % (30 stays 30: NTSC 29.97 is taken only when it is the nearer),
    else the rate as a simple fraction (12.5 = 25/2)."""
    nearest = min(_COMMON_RATES, key=lambda common: abs(rate - common))
    if abs(rate - nearest) < Fraction(5, 1000) * nearest:
        return nearest
    return rate.limit_denominator(1001)


def _rounded(rate: Fraction) -> float:
    return round(float(rate), 3)


@dataclass(frozen=True)
class _Timing:
    times: list[float]
    duration_s: float
    fps_min: float
    fps_max: float


def _frame_timing(timestamps: list[Fraction], frames: int, rate: Fraction, time_base: Fraction | None) -> _Timing:
    """When each frame (in presentation order) is shown, relative to the first, and when the last one ends.

    Sorted timestamps are the presentation timeline (AVI stores decode-order ones). Without one distinct timestamp
    per frame, times follow the measured rate. A stream whose intervals (1st to 99th percentile, so a dropped frame
    or an odd last timestamp does not count) differ by at most one time-base tick is constant-rate: its times are
    put on its rate's grid, which removes the rounding of a coarse time base and keeps the gap of a dropped frame.
    """
    step = 1 / rate
    constant = _rounded(rate)
    if len(timestamps) != frames or len(set(timestamps)) != frames or frames < 2:
        return _Timing([float(index * step) for index in range(frames)], float(frames * step), constant, constant)
    ordered = sorted(timestamps)
    relative = [moment - ordered[0] for moment in ordered]
    intervals = sorted(later - earlier for earlier, later in itertools.pairwise(relative))
    shortest = intervals[int(0.01 * (len(intervals) - 1))]
    longest = intervals[math.ceil(0.99 * (len(intervals) - 1))]
    if longest - shortest <= (time_base or 0):
        ticks = [round(moment * rate) for moment in relative]
        if all(earlier < later for earlier, later in itertools.pairwise(ticks)):
            return _Timing([float(tick * step) for tick in ticks], float((ticks[-1] + 1) * step), constant, constant)
        return _Timing([float(moment) for moment in relative], float(relative[-1] + step), constant, constant)
    return _Timing(
        [float(moment) for moment in relative],
        float(2 * relative[-1] - relative[-2]),
        _rounded(_snap_rate(1 / longest)),
        _rounded(_snap_rate(1 / shortest)),
    )


def _cut_points(sources: list[int], keyframe_packets: set[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Keyframes where the frames split cleanly by packet: all earlier frames from earlier packets, the rest later.

    Unknown sources (-1) make the split unprovable, so the video is then only cut at frame 0 (packet 0).
    """
    if -1 in sources:
        return (0,), (0,)
    prefix_max = list(itertools.accumulate(sources, max))
    suffix_min = list(itertools.accumulate(reversed(sources), min))[::-1]
    cut_frames, cut_packets = [0], [0]
    for index in range(1, len(sources)):
        packet = sources[index]
        if packet in keyframe_packets and prefix_max[index - 1] < packet and suffix_min[index] == packet:
            cut_frames.append(index)
            cut_packets.append(packet)
    return tuple(cut_frames), tuple(cut_packets)


def _reason(error: av.error.FFmpegError) -> str:
    return error.strerror or str(error)
