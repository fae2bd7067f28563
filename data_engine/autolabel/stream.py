"""Streaming inference over a clip: a decoding thread feeds bounded batches to the detectors, so that decoding
overlaps inference and memory stays at a few batches whatever the clip length.

Each frame is decoded once for every detector, converted to pixels only when some detector still needs it, and
inferred at most once per detector: `detect_clip_once` reads the detections stored beside the clip
(`data_engine.detectors.stored`), infers only the frames they lack and stores what it inferred.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from data_engine.detections import Detections
from data_engine.detectors.base import Detector, detections_key
from data_engine.detectors.stored import (
    StoredDetections,
    StoredDetectionsError,
    detections_file,
    read_detections,
    write_detections,
)
from data_engine.errors import EngineError
from data_engine.video.frames import decode_video, displayed_size, frame_to_array

ProgressCallback = Callable[[int], None]
Geometry = tuple[int, int, int]
"""(frame count, width, height) of a clip."""


class AutolabelError(EngineError):
    """A clip or configuration that cannot be autolabelled."""


@dataclass(frozen=True, slots=True)
class StreamedDetections:
    """Per-model detections of every processed frame (None for frames skipped by `every`).

    `processed_frames` counts the frames that have detections, whether inferred now or given as known;
    `inferred` lists, per model, the frames this call actually ran the model on."""

    frame_count: int
    width: int
    height: int
    per_model: dict[str, list[Detections | None]]
    processed_frames: int
    inferred: dict[str, list[int]] = field(default_factory=dict)


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
    known: Mapping[str, Mapping[int, Detections]] | None = None,
    geometry: Geometry | None = None,
    hwaccel: str | None = "auto",
) -> StreamedDetections:
    """Every detector's detections on every `every`-th frame of the clip.

    `known`: model id -> detections already computed for some frames; those frames are not inferred again for that
    model. `geometry`, when given with `known` covering every needed frame, spares decoding the clip at all.
    `batch`: frames per hand-off from the decoding thread (at least each detector's own `batch`, so a GPU detector
    gets the large batches it asks for). `hwaccel`: a PyAV hardware decoder ("cuda" for NVDEC), falling back to
    software decoding when the stream or machine cannot use it; "auto" uses NVDEC when every detector runs on a
    CUDA device and this PyAV build can, and the CPU decoder otherwise (the default on machines without a GPU).
    """
    if every < 1 or batch < 1:
        raise AutolabelError(f"every and batch must be at least 1; got every={every}, batch={batch}")
    known = known or {}
    missing = {detector.model_id: known.get(detector.model_id, {}) for detector in detectors}
    if geometry is not None and all(
        index in frames for frames in missing.values() for index in range(0, geometry[0], every)
    ):
        return _assemble(geometry, detectors, every, known, {})
    batch = max([batch, *(int(getattr(detector, "batch", 1)) for detector in detectors)])

    def needed(index: int) -> bool:
        return index % every == 0 and any(index not in frames for frames in missing.values())

    fresh: dict[str, dict[int, Detections]] = {detector.model_id: {} for detector in detectors}
    end: _End | None = None
    if hwaccel == "auto":
        hwaccel = _hardware_decoder(detectors)
    for item in _decoded_batches(Path(video_path), needed, batch, hwaccel):
        if isinstance(item, _End):
            end = item
            break
        for detector in detectors:
            todo = [row for row, index in enumerate(item.indices) if index not in missing[detector.model_id]]
            if not todo:
                continue
            found = detector.predict([item.images[row] for row in todo])
            fresh[detector.model_id].update(zip((item.indices[row] for row in todo), found, strict=True))
        if progress is not None:
            progress(item.indices[-1] + 1)
    if end is None or end.frame_count == 0:
        raise AutolabelError(f"{video_path}: no decodable video frames; check the file with the video probe")
    if progress is not None:
        progress(end.frame_count)
    return _assemble((end.frame_count, end.width, end.height), detectors, every, known, fresh)


def _assemble(
    geometry: Geometry,
    detectors: Sequence[Detector],
    every: int,
    known: Mapping[str, Mapping[int, Detections]],
    fresh: Mapping[str, Mapping[int, Detections]],
) -> StreamedDetections:
    frame_count, width, height = geometry
    per_model: dict[str, list[Detections | None]] = {}
    for detector in detectors:
        inferred, given = fresh.get(detector.model_id, {}), known.get(detector.model_id, {})
        frames: list[Detections | None] = [None] * frame_count
        for index in range(0, frame_count, every):
            frames[index] = inferred[index] if index in inferred else given.get(index)
        per_model[detector.model_id] = frames
    processed = len(range(0, frame_count, every))
    inferred_frames = {model_id: sorted(frames) for model_id, frames in fresh.items()}
    return StreamedDetections(frame_count, width, height, per_model, processed, inferred_frames)


@dataclass(frozen=True, slots=True)
class ClipInference:
    """What `detect_clip_once` found and did: the detections, and the stored-detections files it (re)wrote."""

    streamed: StreamedDetections
    written: tuple[Path, ...]

    @property
    def inferred_frames(self) -> dict[str, int]:
        """Model id -> frames inferred by this call (0 when the stored detections covered the clip)."""
        return {model_id: len(frames) for model_id, frames in self.streamed.inferred.items()}


def detect_clip_once(
    video_path: str | Path,
    detectors: Sequence[Detector],
    folder: str | Path,
    every: int = 1,
    batch: int = 16,
    progress: ProgressCallback | None = None,
    hwaccel: str | None = "auto",
) -> ClipInference:
    """`detect_stream` that reuses and extends the detections stored in `folder` (the clip's detections folder).

    Frames a detector already ran on (with the same weights and settings: the file is named by its inference key)
    are read back, never inferred again; the frames it ran on now are added to its file. A file that cannot be
    read is ignored (and rewritten), so a damaged cache costs time, never wrong labels.
    """
    stored = {detector.model_id: _stored_for(detector, folder) for detector in detectors}
    geometry = next(((s.frame_count, s.width, s.height) for s in stored.values() if s.frame_count), None)
    streamed = detect_stream(
        video_path,
        detectors,
        every=every,
        batch=batch,
        progress=progress,
        known={model_id: s.frames for model_id, s in stored.items()},
        geometry=geometry,
        hwaccel=hwaccel,
    )
    written: list[Path] = []
    for detector in detectors:
        inferred = streamed.inferred.get(detector.model_id, [])
        if not inferred:
            continue
        record = stored[detector.model_id]
        record.frame_count, record.width, record.height = streamed.frame_count, streamed.width, streamed.height
        frames = streamed.per_model[detector.model_id]
        record.params = dict(detector.params)
        record.add({index: found for index in inferred if (found := frames[index]) is not None}, _device(detector))
        written.append(write_detections(detections_file(folder, record.key), record))
    return ClipInference(streamed, tuple(written))


def _stored_for(detector: Detector, folder: str | Path) -> StoredDetections:
    key = detections_key(detector)
    path = detections_file(folder, key)
    empty = StoredDetections(key, detector.model_id, dict(detector.names), 0, 0, 0)
    if not path.is_file():
        return empty
    try:
        found = read_detections(path)
    except StoredDetectionsError:
        return empty
    return found if found.key == key and found.model_id == detector.model_id else empty


def _device(detector: Detector) -> str | None:
    device = getattr(detector, "device", None)
    return str(device) if device is not None else None


def _decoded_batches(
    video_path: Path, needed: Callable[[int], bool], batch: int, hwaccel: str | None
) -> Iterator[_Batch | _End]:
    """Batches of the needed frames (BGR), decoded in a background thread (bounded queue), then one `_End` with
    the clip's geometry. Frames no detector needs are decoded (the codec must) but never converted to pixels."""
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
            with _open(video_path, hwaccel) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for index, decoded in enumerate(decode_video(container, stream)):
                    count, (width, height) = index + 1, displayed_size(decoded.frame)
                    if not needed(index):
                        continue
                    indices.append(index)
                    images.append(frame_to_array(decoded.frame, "bgr24"))
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


def _hardware_decoder(detectors: Sequence[Detector]) -> str | None:
    """ "cuda:N" (NVDEC on GPU N) when every detector runs on CUDA GPU N and PyAV was built with CUDA support."""
    devices = {str(getattr(detector, "device", "cpu")) for detector in detectors}
    if len(devices) != 1 or not next(iter(devices)).startswith("cuda"):
        return None
    from av.codec.hwaccel import hwdevices_available

    return next(iter(devices)) if "cuda" in hwdevices_available() else None


def _open(video_path: Path, hwaccel: str | None) -> av.container.InputContainer:
    """The container, decoding on `hwaccel` ("cuda" or "cuda:N") when given; frames come back to system memory,
    and FFmpeg falls back to its software decoder for streams the hardware cannot decode."""
    if hwaccel is None:
        return av.open(str(video_path))
    from av.codec.hwaccel import HWAccel

    kind, _, index = hwaccel.partition(":")
    try:
        return av.open(str(video_path), hwaccel=HWAccel(kind, device=index or None, allow_software_fallback=True))
    except (av.error.FFmpegError, ValueError, RuntimeError):  # no usable device here after all: decode on the CPU
        return av.open(str(video_path))
