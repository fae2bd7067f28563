"""Streaming frame decoding with PyAV: one pass, constant memory, luma plane or BGR."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np

PixelFormat = Literal["gray", "bgr24"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: its index in decode-presentation order, its timestamp and its pixels."""

    index: int
    pts_s: float
    image: np.ndarray


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane of a YUV frame as a (height, width) uint8 array, without colour conversion."""
    plane = frame.planes[0]
    data = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
    return data[:, : plane.width]


def iter_frames(
    path: str | Path,
    pixel_format: PixelFormat = "bgr24",
    width: int | None = None,
    threads: int = 0,
) -> Iterator[Frame]:
    """Decode every frame of the first video stream, in presentation order.

    `width` downsizes in the decoder's scaler (height keeps the aspect ratio, rounded to even).
    Decoding stops quietly at the first undecodable packet after at least one frame: a truncated
    file yields its decodable prefix, which is what probing records.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        index = 0
        for frame in _decode(container, stream):
            yield Frame(index, _pts_seconds(frame, stream, index), _to_array(frame, pixel_format, width))
            index += 1


def _decode(container: av.container.InputContainer, stream: av.VideoStream) -> Iterator[av.VideoFrame]:
    decoded_any = False
    try:
        for frame in container.decode(stream):
            decoded_any = True
            yield frame
    except av.error.FFmpegError:
        if not decoded_any:
            raise


def _pts_seconds(frame: av.VideoFrame, stream: av.VideoStream, index: int) -> float:
    if frame.pts is not None and stream.time_base is not None:
        return float(frame.pts * stream.time_base)
    rate = stream.average_rate or stream.guessed_rate or 25
    return index / float(rate)


def _to_array(frame: av.VideoFrame, pixel_format: PixelFormat, width: int | None) -> np.ndarray:
    resize = width is not None and width != frame.width
    if pixel_format == "gray" and frame.format.name in _YUV_FORMATS:
        luma = luma_plane(frame)
        if not resize:
            return luma.copy()
        # Area-averaging the luma plane alone is several times faster than swscale resizing all three planes.
        return cv2.resize(luma, (width, _scaled_height(frame, width)), interpolation=cv2.INTER_AREA)
    if resize:
        frame = frame.reformat(width=width, height=_scaled_height(frame, width))
    return frame.to_ndarray(format=pixel_format)


def _scaled_height(frame: av.VideoFrame, width: int) -> int:
    return max(2, round(frame.height * width / frame.width / 2) * 2)


_YUV_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"})
