"""Detectors loaded once per process: compute workers keep each model they load, keyed by its spec (whose
`checksum` is the weights' content hash), so a batch of clips costs one model load per worker, not one per clip.

A job names its detectors by `DetectorSource`: a `DetectorSpec` or `OnnxSpec` (plain data, loaded here on first
use) or, for the in-process backend and for detectors that have no spec, the detector object itself.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data_engine.catalog import Clip
from data_engine.detectors.base import Detector
from data_engine.detectors.onnx_detector import OnnxSpec
from data_engine.detectors.stored import (
    ReplayDetector,
    StoredDetectionsError,
    commit_stored_detections,
    detections_file,
    read_detections,
)
from data_engine.detectors.ultralytics_detector import DetectorSpec
from data_engine.store import Store

Spec = DetectorSpec | OnnxSpec
SPECS = (DetectorSpec, OnnxSpec)
DetectorSource = Spec | Detector

_loaded: dict[Spec, Detector] = {}
_lock = threading.Lock()
_loads: Counter[Spec] = Counter()


def models_loaded() -> int:
    """How many models this process has loaded from specs so far (one per spec unless forgotten in between)."""
    return sum(_loads.values())


@dataclass(frozen=True)
class ModelWork:
    """What a clip's job on a worker did with its models: the frames each model ran on, the stored-detections
    files written (names in the clip's detections folder), the worker process and how many models it has loaded
    so far. The result of every per-clip job that runs detectors."""

    frames_inferred: Mapping[str, int] = field(default_factory=dict)
    written: tuple[str, ...] = ()
    pid: int = field(default_factory=os.getpid)
    models_loaded: int = field(default_factory=models_loaded)

    def commit(self, store: Store, clip: Clip, loaded: dict[int, int], inferred: Counter[str]) -> None:
        """Commit the clip's stored detections and count this work into a stage report's `loaded` (the most models
        each worker process held) and `inferred` (frames per model)."""
        loaded[self.pid] = max(loaded.get(self.pid, 0), self.models_loaded)
        inferred.update(self.frames_inferred)
        commit_stored_detections(store, clip, self.written)


def source_of(detector: Detector) -> DetectorSource:
    """What a job carries for `detector`: its spec when it has one (remembering the loaded object, so that the
    in-process backend reuses it instead of loading it again), else the detector itself."""
    spec = getattr(detector, "spec", None)
    if isinstance(spec, SPECS):
        with _lock:
            _loaded.setdefault(spec, detector)
        return spec
    return detector


def load_detector(source: DetectorSource) -> Detector:
    """The detector for `source`, loading a spec the first time this process sees it."""
    if not isinstance(source, SPECS):
        return source
    with _lock:  # one load even when several threads of a Dask worker ask at once
        found = _loaded.get(source)
        if found is None:
            found = _loaded[source] = source.load()
            _loads[source] += 1
    return found


def detectors_for_clip(sources: Sequence[DetectorSource], folder: str | Path, every: int = 1) -> list[Detector]:
    """The detectors a clip's job needs: for a spec whose detections on the clip are all stored (every `every`-th
    frame), a `ReplayDetector` (no model loaded, torch not even imported); else the loaded model."""
    return [_replay(source, folder, every) or load_detector(source) for source in sources]


def _replay(source: DetectorSource, folder: str | Path, every: int) -> ReplayDetector | None:
    if not isinstance(source, SPECS) or source in _loaded:
        return None
    path = detections_file(folder, source.inference_key)
    try:
        stored = read_detections(path) if path.is_file() else None
    except StoredDetectionsError:
        return None
    return ReplayDetector.of(stored) if stored is not None and stored.covers(every) else None


def forget_detectors() -> None:
    """Drop every cached model (frees their memory; the next job loads them again)."""
    with _lock:
        _loaded.clear()
