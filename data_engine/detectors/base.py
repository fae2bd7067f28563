"""What the engine needs from a detector: batched frames in, one `Detections` per frame out."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from data_engine.detections import Detections
from data_engine.errors import EngineError


class DetectorError(EngineError):
    """A detector that cannot be loaded or used as configured."""


@runtime_checkable
class Detector(Protocol):
    """A frame detector. `model_id` identifies the weights (it goes into box provenance and label files), `names`
    maps class ids to names, `params` records how it was run."""

    model_id: str
    names: dict[int, str]

    def predict(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """One `Detections` per BGR uint8 frame, in order."""
        ...

    @property
    def params(self) -> dict[str, Any]: ...


def check_same_file(what: str, expected: str, found: str) -> None:
    """A detector a worker loads from a spec must be the file the run was started with: DetectorError when the
    spec names a checksum (`expected`) and the file loaded here (`what`) has another (`found`)."""
    if expected and found != expected:
        raise DetectorError(
            f"{what} differs on this worker (sha256 {found[:12]}) from the one the run was started with "
            f"({expected[:12]}); give every worker the same file"
        )


def inference_key(settings: Mapping[str, Any]) -> str:
    """A short, stable digest of everything a detector's boxes depend on (JSON with sorted keys)."""
    payload = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def detections_key(detector: Detector) -> str:
    """The key stored detections of `detector` are filed under: its own `inference_key` or its spec's (weights
    content + settings) when it has one, else a digest of everything it reports in `params`."""
    for key in (
        getattr(detector, "inference_key", None),
        getattr(getattr(detector, "spec", None), "inference_key", None),
    ):
        if isinstance(key, str):
            return key
    return inference_key(detector.params)


def operating_threshold(detector: Detector) -> float:
    """The score at which `detector`'s own authors threshold its boxes (0.25, Ultralytics', when it does not say)."""
    return float(detector.params.get("operating_threshold", 0.25))


def check_same_classes(detectors: Sequence[Detector]) -> dict[int, str]:
    """The class-name map the detectors share; a clear error when they differ (boxes could not be compared)."""
    if not detectors:
        raise DetectorError("no detector given; configure at least one (DATA_ENGINE_DETECTORS)")
    first = detectors[0]
    for other in detectors[1:]:
        if other.names != first.names:
            raise DetectorError(
                f"models {first.model_id} and {other.model_id} have different classes ({first.names} vs "
                f"{other.names}); give a class_map to map one onto the other's class names"
            )
    return dict(first.names)
