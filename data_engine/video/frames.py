"""Streaming frame decoding with PyAV: one pass, constant memory, luma plane or BGR, turned upright.

A stream's display matrix (a phone held upright records its picture sideways and says so there) is applied to the
pixels handed out, so every consumer (detectors, annotators' images, datasets, reports) sees the picture as it is
shown, in the same pixel grid; the clipper writes the video's rotation into every clip's matrix.
"""

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np

PixelFormat = Literal["gray", "bgr24"]

THUMBNAIL_DECODING: Mapping[str, str] = {"skip_loop_filter": "bidir"}
"""Decoder options for passes that only measure a downscaled luma (the probe and the mining features): H.264 and
HEVC skip their deblocking filter on B-frames, 10-15 % of a 1080p decode. B-frames are rarely references, so the
skipped smoothing does not carry into other frames: on the bench's 1080p file and the shared 720p crowd video the
160-pixel thumbnails move by at most 0.07 grey levels (diff_prev by under 1 %), while skipping it on every frame
drifts by up to 1.4 levels until the next keyframe. Pixels anyone looks at or trains on are decoded exactly."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: its index in decode-presentation order, its timestamp and its pixels."""

    index: int
    pts_s: float
    image: np.ndarray


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane of a YUV frame as a (height, width) uint8 array, without colour conversion."""
    plane = frame.planes[0]
    data = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)
    return data[:, : plane.width]


def iter_frames(
    path: str | Path,
    pixel_format: PixelFormat = "bgr24",
    width: int | None = None,
    threads: int = 0,
    only: Collection[int] | None = None,
    decoder_options: Mapping[str, str] | None = None,
) -> Iterator[Frame]:
    """Decode every frame of the first video stream, in presentation order.

    `only` yields just those frame indices and stops after the last of them: the frames in between are decoded
    (the codec needs them) but never converted, which is most of the cost of a full-size BGR frame.

    `width` downsizes (height keeps the aspect ratio, rounded to even): the luma plane alone by area averaging for
    "gray", the decoder's scaler for BGR. `pts_s` is the timestamp of the packet a frame came from; containers
    that store decode-order timestamps (AVI with B-frames) give it out of order, so use `index` for ordering.
    Decoding stops quietly at the first undecodable or cut-short packet after at least one frame: a truncated
    file yields its decodable prefix, the same frames that probing counts. `decoder_options` go to the codec (say
    `THUMBNAIL_DECODING`).
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        if decoder_options:
            stream.codec_context.options = dict(decoder_options)
        last = max(only, default=-1) if only is not None else None
        for index, decoded in enumerate(decode_video(container, stream)):
            if last is not None and index > last:
                return
            if only is not None and index not in only:
                continue
            yield Frame(index, pts_seconds(decoded, stream, index), frame_to_array(decoded.frame, pixel_format, width))


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """A decoded frame, the index (in demux order) of the packet it came from, and that packet's timestamp."""

    frame: av.VideoFrame
    packet_index: int
    packet_pts: int | None


@dataclass
class DecodeOutcome:
    """Filled in by `decode_video` as it goes: packets read, keyframe packets, and what stopped decoding early."""

    packets: int = 0
    keyframe_packets: list[int] = field(default_factory=list)
    stop_reason: str | None = None


def decode_video(
    container: av.container.InputContainer, stream: av.VideoStream, outcome: DecodeOutcome | None = None
) -> Iterator[DecodedFrame]:
    """Decode `stream` packet by packet, tagging each frame with the demux index of the packet that produced it.

    The packet timestamps are replaced by their demux index before decoding (decoders carry them to the frame
    through reordering), so the tag survives B-frame reordering, missing or duplicate timestamps; the original
    timestamp is kept alongside. Decoding stops at the first packet the demuxer flags as cut short or that the
    decoder rejects (a truncated or damaged file), after flushing the frames already buffered; `outcome.stop_reason`
    says why. Empty packets (AVI dropped-frame placeholders) are skipped: to a decoder they mean end of stream.
    An error before any frame is decoded is raised.
    """
    outcome = outcome if outcome is not None else DecodeOutcome()
    original_pts: list[int | None] = []
    decoded_any = False
    for index, packet in enumerate(video_packets(container, stream, outcome)):
        original_pts.append(packet.pts)
        if packet.is_keyframe:
            outcome.keyframe_packets.append(index)
        packet.pts = packet.dts = index
        try:
            frames = stream.decode(packet)
        except av.error.FFmpegError as error:
            if not decoded_any:
                raise
            outcome.stop_reason = f"undecodable packet {index}: {error}"
            break
        for frame in frames:
            decoded_any = True
            yield _tagged(frame, original_pts)
    try:
        flushed = stream.decode(None)
    except av.error.FFmpegError as error:
        outcome.stop_reason = outcome.stop_reason or f"undecodable data at end of stream: {error}"
        flushed = []
    for frame in flushed:
        yield _tagged(frame, original_pts)


def video_packets(
    container: av.container.InputContainer, stream: av.VideoStream, outcome: DecodeOutcome | None = None
) -> Iterator[av.Packet]:
    """The stream's non-empty packets in demux order, up to the first one cut short or unreadable.

    This numbering (counted in `outcome.packets`, reason for stopping early in `outcome.stop_reason`) is the one
    probes and clip extraction share, so packet indices mean the same packets everywhere.
    """
    outcome = outcome if outcome is not None else DecodeOutcome()
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as error:
            outcome.stop_reason = f"unreadable data after video packet {outcome.packets}: {error}"
            return
        if packet.is_corrupt:
            outcome.stop_reason = f"file truncated: video packet {outcome.packets} is cut short"
            return
        if packet.size:
            outcome.packets += 1
            yield packet


def _tagged(frame: av.VideoFrame, original_pts: list[int | None]) -> DecodedFrame:
    """Tag a frame with its source packet; -1 when a decoder did not carry the timestamp through."""
    if frame.pts is None or not 0 <= frame.pts < len(original_pts):
        return DecodedFrame(frame, -1, None)
    return DecodedFrame(frame, frame.pts, original_pts[frame.pts])


def pts_seconds(decoded: DecodedFrame, stream: av.VideoStream, index: int) -> float:
    """The timestamp of the packet a frame came from, in seconds; from the frame rate when it has none."""
    if decoded.packet_pts is not None and stream.time_base is not None:
        return float(decoded.packet_pts * stream.time_base)
    rate = stream.average_rate or stream.guessed_rate or 25
    return index / float(rate)


def frame_to_array(frame: av.VideoFrame, pixel_format: PixelFormat, width: int | None = None) -> np.ndarray:
    """The pixels `iter_frames` gives for a decoded frame (luma plane or BGR, optionally downsized), turned by its
    display matrix (`display_rotation`). `width` is that of the coded picture: a frame shown turned by 90 degrees
    comes out `width` pixels high."""
    return upright(_coded_array(frame, pixel_format, width), display_rotation(frame))


def _coded_array(frame: av.VideoFrame, pixel_format: PixelFormat, width: int | None) -> np.ndarray:
    target = width if width is not None and width != frame.width else None
    if pixel_format == "gray" and frame.format.name in _YUV_FORMATS:
        luma = luma_plane(frame)
        if target is None:
            return luma.copy()
        return area_downscale(luma, target, _scaled_height(frame, target))
    if target is not None:
        frame = frame.reformat(width=target, height=_scaled_height(frame, target))
    return frame.to_ndarray(format=pixel_format)


def normalised_rotation(degrees: float) -> int:
    """A clockwise angle as 0, 90, 180 or 270 (the nearest quarter turn; -90 is 270)."""
    return round(degrees / 90) % 4 * 90


def display_rotation(frame: av.VideoFrame) -> int:
    """The clockwise quarter turn (0, 90, 180, 270) that shows the frame upright, from its display matrix (FFmpeg
    states that angle counter-clockwise: `-display_rotation 90` is 270 here, a phone's `rotate=90` tag is 90)."""
    try:
        counter_clockwise = frame.rotation
    except (AttributeError, ValueError):
        return 0
    if counter_clockwise is None or counter_clockwise != counter_clockwise:  # no matrix, or NaN
        return 0
    return normalised_rotation(-counter_clockwise)


_TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def upright(image: np.ndarray, clockwise: int) -> np.ndarray:
    """`image` turned clockwise by `clockwise` degrees (0, 90, 180 or 270), as a contiguous array."""
    turn = _TURNS.get(normalised_rotation(clockwise))
    return image if turn is None else cv2.rotate(image, turn)


def displayed_size(frame: av.VideoFrame) -> tuple[int, int]:
    """(width, height) of the frame as shown, after its display matrix's turn."""
    if display_rotation(frame) in (90, 270):
        return frame.height, frame.width
    return frame.width, frame.height


def area_downscale(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-averaged resize to (height, width), several times faster than swscale on all three planes.

    Halvings by bilinear interpolation (exactly 2x2 averaging) while the image is at least twice the target, then
    cv2's INTER_AREA: within one grey level of a single INTER_AREA, at a fraction of its cost on large frames.
    """
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _scaled_height(frame: av.VideoFrame, width: int) -> int:
    return max(2, round(frame.height * width / frame.width / 2) * 2)


_YUV_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"})
