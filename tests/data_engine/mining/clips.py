"""Small H.264 clips encoded with PyAV for the mining tests."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FPS = 25


def encode(path: Path, frames: list[np.ndarray]) -> Path:
    """Encode BGR frames as near-lossless H.264 at 25 fps."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "12", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.time_base = Fraction(1, FPS)
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
