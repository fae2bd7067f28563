"""Probe a video by decoding it: true frame count and rate, keyframes, and where it can be cut without re-encoding.

Container headers lie (an AVI claiming twice its real rate and frame count, a last frame that never decodes), so
every number here comes from demuxing and decoding the whole video stream once.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from statistics import median

import av

from data_engine.video.frames import DecodedFrame, DecodeOutcome, decode_video, pts_seconds

FrameCallback = Callable[[int, DecodedFrame, float], None]
"""Called as `on_frame(index, decoded, pts_s)` with each frame the probe decodes, in presentation order."""


class VideoError(Exception):
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


def probe_video(path: str | Path, on_frame: FrameCallback | None = None) -> VideoProbe:
    """Decode the first video stream of `path` and describe it; raises VideoError when it is not a usable video.

    `on_frame` sees every decoded frame (the ones counted in `frames`), so work that needs the pixels, such as the
    mining features, rides on this pass instead of decoding the video again.
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
        outcome = DecodeOutcome()
        try:
            sources, timestamps = _decode_sources(container, stream, outcome, on_frame)
        except av.error.FFmpegError as error:
            raise VideoError(f"no decodable frames: {_reason(error)}") from error
        if not sources:
            raise VideoError(f"no decodable frames{': ' + outcome.stop_reason if outcome.stop_reason else ''}")
        fps = _measured_fps(timestamps, stream)
        keyframe_packets = set(outcome.keyframe_packets)
        cut_frames, cut_packets = _cut_points(sources, keyframe_packets)
        return VideoProbe(
            container=container.format.name,
            codec=stream.codec_context.name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            pixel_format=stream.codec_context.pix_fmt or "unknown",
            fps=fps,
            frames=len(sources),
            duration_s=len(sources) / fps,
            header_fps=float(stream.average_rate) if stream.average_rate else None,
            header_frames=stream.frames or None,
            has_audio=bool(container.streams.audio),
            truncated=outcome.stop_reason is not None,
            decode_error=outcome.stop_reason,
            keyframes=tuple(index for index, packet in enumerate(sources) if packet in keyframe_packets),
            cut_frames=cut_frames,
            cut_packets=cut_packets,
            packet_end=max(sources) + 1,
        )


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
) -> tuple[list[int], list[float]]:
    """Source packet index of every decoded frame in presentation order, and the packet timestamps in seconds."""
    sources: list[int] = []
    timestamps: list[float] = []
    time_base = stream.time_base
    for index, decoded in enumerate(decode_video(container, stream, outcome)):
        sources.append(decoded.packet_index)
        if decoded.packet_pts is not None and time_base is not None:
            timestamps.append(float(decoded.packet_pts * time_base))
        if on_frame is not None:
            on_frame(index, decoded, pts_seconds(decoded, stream, index))
    return sources, timestamps


def _measured_fps(timestamps: list[float], stream: av.VideoStream) -> float:
    """Frame rate from the spacing of the frames' timestamps: the mean of the intervals close to the median one.

    Sorting undoes reordering; ignoring intervals far from the median discards gaps and a short last frame;
    averaging the rest recovers rates that a millisecond time base rounds (29.97 stored as 33/34 ms).
    """
    unique = sorted(set(timestamps))
    intervals = [later - earlier for earlier, later in itertools.pairwise(unique)]
    if intervals:
        typical = median(intervals)
        regular = [interval for interval in intervals if 0.5 * typical < interval < 1.5 * typical]
        return _snap_rate(len(regular) / sum(regular))
    header_rate = stream.guessed_rate or stream.average_rate
    if header_rate:
        return _snap_rate(float(header_rate))
    raise VideoError("no frame rate: the video has one timestamp and no rate in its header")


_COMMON_RATES = (
    float(Fraction(24000, 1001)),
    24.0,
    25.0,
    float(Fraction(30000, 1001)),
    30.0,
    48.0,
    50.0,
    float(Fraction(60000, 1001)),
    60.0,
    100.0,
    120.0,
)


def _snap_rate(rate: float) -> float:
    """Snap to a standard rate within 0.5 %, rounded to 3 decimals (29.97), else round to 3 decimals."""
    for common in _COMMON_RATES:
        if abs(rate - common) < 0.005 * common:
            return round(common, 3)
    return round(rate, 3)


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
