"""Where the frames and the ground truth of an evaluation come from: a video file, a folder of frames or a
MOTChallenge sequence folder (seqinfo.ini, img1/, gt/gt.txt), and a folder's frames as a lossless video."""

from __future__ import annotations

import configparser
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from data_engine.errors import EngineError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class FootageError(EngineError, ValueError):
    """Footage or settings the evaluator cannot use; the message says what to give instead."""


@dataclass(frozen=True)
class Footage:
    """Where the frames and the ground truth of an evaluation come from."""

    video: Path | None
    frame_count: int | None
    ground_truth: Path | None


def locate(source: str | Path | None, ground_truth: str | Path | None) -> Footage:
    """Resolve what the user gave: a video file, a folder of frames, or a MOTChallenge sequence folder (seqinfo.ini,
    img1/, gt/gt.txt); the ground truth defaults to the sequence's gt/gt.txt. Frames of a folder are read later by
    `frames_video`."""
    if source is None:
        if ground_truth is None:
            raise FootageError("give the footage (a video, a folder of frames or a sequence folder) and/or --gt FILE")
        given = Path(ground_truth)
        return Footage(None, _seqinfo_length(given.parent.parent), given)
    path = Path(source)
    if not path.exists():
        raise FootageError(f"{path} does not exist; give a video file, a folder of frames or a sequence folder")
    gt_path = Path(ground_truth) if ground_truth is not None else None
    if path.is_file():
        return Footage(path, None, gt_path)
    info = _seqinfo(path)
    frames_dir = path / info.get("imdir", "img1") if (path / "seqinfo.ini").is_file() else path
    if gt_path is None and (path / "gt" / "gt.txt").is_file():
        gt_path = path / "gt" / "gt.txt"
    if not _images(frames_dir):
        raise FootageError(f"{frames_dir} holds no frames ({', '.join(IMAGE_SUFFIXES)} files)")
    return Footage(frames_dir, len(_images(frames_dir)), gt_path)


def _seqinfo(folder: Path) -> dict[str, str]:
    parser = configparser.ConfigParser()
    if not (folder / "seqinfo.ini").is_file():
        return {}
    parser.read(folder / "seqinfo.ini")
    return dict(parser["Sequence"]) if parser.has_section("Sequence") else {}


def _seqinfo_length(folder: Path) -> int | None:
    length = _seqinfo(folder).get("seqlength")
    return int(length) if length and length.isdigit() else None


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


@contextmanager
def frames_video(path: Path) -> Iterator[Path]:
    """A video file of the footage: the file itself, or a folder's frames (in name order) encoded losslessly
    (FFV1) into a temporary file, so the engine's video readers see exactly the annotated pixels."""
    if path.is_file():
        yield path
        return
    images = _images(path)
    with tempfile.TemporaryDirectory(prefix="data-engine-evaluate-") as scratch:
        video = Path(scratch) / "frames.mkv"
        first = cv2.imread(str(images[0]))
        if first is None:
            raise FootageError(f"{images[0]} is not an image OpenCV can read")
        height, width = first.shape[:2]
        with av.open(str(video), "w") as container:
            stream = container.add_stream("ffv1", rate=Fraction(25))
            stream.width, stream.height, stream.pix_fmt = width, height, "bgr0"
            for image_path in images:
                image = cv2.imread(str(image_path))
                if image is None or image.shape[:2] != (height, width):
                    raise FootageError(f"{image_path} is not a {width}x{height} image like the first frame")
                pixels = np.asarray(image, dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(pixels, format="bgr24").reformat(format="bgr0")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        yield video


def count_frames(video: Path) -> int:
    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))
