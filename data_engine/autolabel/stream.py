"""Streaming inference over a clip: a decoding thread feeds bounded batches to the detectors, so that decoding
overlaps inference and memory stays at a few batches whatever the clip length."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from data_engine.detections import Detections
from data_engine.detectors.base import Detector
from data_engine.errors import EngineError
from data_engine.video.frames import iter_frames

ProgressCallback = Callable[[int], None]


class AutolabelError(EngineError):
    """A clip or configuration that cannot be autolabelled."""


@dataclass(frozen=True, slots=True)
class StreamedDetections:
    """Per-model detections of every processed frame (None for frames skipped by `every`)."""

    frame_count: int
    width: int
    height: int
    per_model: dict[str, list[Detections | None]]
    processed_frames: int


@dataclass(frozen=True, slots=True)
class _Batch:
    indices: list[int]
    images: list[np.ndarray]


@dataclass(frozen=True, slots=True)
class _End:
    frame_count: int
    width: int
    height: int


def detect_stream(
    video_path: str | Path,
    detectors: Sequence[Detector],
    every: int = 1,
    batch: int = 16,
    progress: ProgressCallback | None = None,
) -> StreamedDetections:
    """Run every detector on every `every`-th frame of the clip, `batch` frames at a time."""
    if every < 1 or batch < 1:
        raise AutolabelError(f"every and batch must be at least 1; got every={every}, batch={batch}")
    per_model: dict[str, list[Detections | None]] = {detector.model_id: [] for detector in detectors}
    processed = 0
    end: _End | None = None
    for item in _decoded_batches(Path(video_path), every, batch):
        if isinstance(item, _End):
            end = item
            break
        results = [detector.predict(item.images) for detector in detectors]
        for detector, detections in zip(detectors, results, strict=True):
            frames = per_model[detector.model_id]
            for index, found in zip(item.indices, detections, strict=True):
                frames.extend([None] * (index - len(frames)))
                frames.append(found)
        processed += len(item.indices)
        if progress is not None:
            progress(item.indices[-1] + 1)
    if end is None or end.frame_count == 0:
        raise AutolabelError(f"{video_path}: no decodable video frames; check the file with the video probe")
    for frames in per_model.values():
        frames.extend([None] * (end.frame_count - len(frames)))
    return StreamedDetections(end.frame_count, end.width, end.height, per_model, processed)


def _decoded_batches(video_path: Path, every: int, batch: int) -> Iterator[_Batch | _End]:
    """Batches decoded in a background thread (bounded queue), then one `_End` with the clip's geometry."""
    handoff: queue.Queue[_Batch | _End | BaseException] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: _Batch | _End | BaseException) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def decode() -> None:
        indices: list[int] = []
        images: list[np.ndarray] = []
        count, width, height = 0, 0, 0
        try:
            for frame in iter_frames(video_path):
                count = frame.index + 1
                height, width = frame.image.shape[:2]
                if frame.index % every:
                    continue
                indices.append(frame.index)
                images.append(frame.image)
                if len(images) == batch:
                    if not put(_Batch(indices, images)):
                        return
                    indices, images = [], []
            if images and not put(_Batch(indices, images)):
                return
            put(_End(count, width, height))
        except (av.error.FFmpegError, OSError, IndexError) as error:
            message = f"{video_path}: no decodable video frames ({error}); check the file with the video probe"
            put(AutolabelError(message))
        except BaseException as error:  # handed to the consumer thread, which re-raises it
            put(error)

    worker = threading.Thread(target=decode, name=f"decode-{video_path.name}", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, _End):
                return
    finally:
        stop.set()
        worker.join()
