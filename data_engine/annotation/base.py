"""The annotation interface every backend speaks: a `Selection` of frames goes out, an `AnnotationRun` records
where it went, and reviewed labels come back as canonical `Detections` with who, when and how long.

Frames are known outside the engine only by a pseudonymous frame key (a hash of clip id and frame index), so no
clip id, source path or camera name leaves the engine; the run keeps the map back to our ids.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from data_engine.detections import Detections, DetectionsError
from data_engine.errors import EngineError

RUN_SCHEMA = "data-engine/annotation-run"
RUN_SCHEMA_VERSION = 1
COORDINATE_TOLERANCE_PX = 1.0


class AnnotationError(EngineError):
    """An annotation push, pull or import that cannot go on; the message says what to do."""


class AnnotationAuthError(AnnotationError):
    """The platform rejected our credentials."""


class AnnotationUnavailableError(AnnotationError):
    """The platform did not answer (down, unreachable, or failing with server errors) after the retries."""


def frame_key(clip_id: str, frame: int) -> str:
    """The pseudonymous id of one frame outside the engine: stable, and reveals neither clip id nor path."""
    return hashlib.sha256(f"{clip_id}\x00{int(frame)}".encode()).hexdigest()[:24]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True, eq=False)
class SelectedFrame:
    """One frame to annotate: where it comes from, its pixels (a file or a BGR array), its size, the autolabels
    to pre-annotate it with (None on a cold start) and why it was selected (trigger names)."""

    clip_id: str
    frame: int
    width: int
    height: int
    image_path: Path | None = None
    image: np.ndarray | None = None
    pre_annotations: Detections | None = None
    reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.image_path is None) == (self.image is None):
            raise AnnotationError(f"frame {self.frame} of clip {self.clip_id}: give exactly one of image_path, image")
        if self.width <= 0 or self.height <= 0:
            raise AnnotationError(f"frame {self.frame} of clip {self.clip_id}: size {self.width}x{self.height}")

    @property
    def key(self) -> str:
        return frame_key(self.clip_id, self.frame)


@dataclass(frozen=True, slots=True)
class Selection:
    """Frames to send to annotators under one label schema (class id -> name). `name` names the project or
    bundle; `model_version` tags the pre-annotations."""

    frames: tuple[SelectedFrame, ...]
    names: dict[int, str]
    name: str = "data-engine"
    model_version: str = "autolabel"

    def __post_init__(self) -> None:
        if not self.names:
            raise AnnotationError("a selection needs a label schema: give the class names")
        keys = [frame.key for frame in self.frames]
        if len(set(keys)) != len(keys):
            raise AnnotationError("a selection lists the same (clip, frame) twice; select each frame once")
        for selected in self.frames:
            if selected.pre_annotations is not None:
                unknown = set(selected.pre_annotations.class_id.tolist()) - set(self.names)
                if unknown:
                    raise AnnotationError(
                        f"pre-annotations of frame {selected.frame} of clip {selected.clip_id} use class ids "
                        f"{sorted(unknown)} outside the label schema {self.names}"
                    )


@dataclass(frozen=True, slots=True)
class RunFrame:
    """A frame of a run: our ids, its pseudonymous key, the platform's task id (None for bundles), size and the
    reasons it was selected."""

    clip_id: str
    frame: int
    key: str
    width: int
    height: int
    task_id: int | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AnnotationRun:
    """A serialisable record of one push: backend, project (id and URL), label schema, frames with the map
    between platform task ids and our (clip id, frame), and when. Holds no credentials."""

    run_id: str
    backend: str
    project_id: str
    project_url: str
    names: dict[int, str]
    frames: tuple[RunFrame, ...]
    created_at: str
    model_version: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": RUN_SCHEMA,
            "schema_version": RUN_SCHEMA_VERSION,
            "run_id": self.run_id,
            "backend": self.backend,
            "project_id": self.project_id,
            "project_url": self.project_url,
            "names": {str(key): value for key, value in self.names.items()},
            "model_version": self.model_version,
            "created_at": self.created_at,
            "frames": [[f.clip_id, f.frame, f.key, f.width, f.height, f.task_id, list(f.reasons)] for f in self.frames],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AnnotationRun:
        if data.get("schema") != RUN_SCHEMA or data.get("schema_version") != RUN_SCHEMA_VERSION:
            raise AnnotationError(f"not a {RUN_SCHEMA} v{RUN_SCHEMA_VERSION} record")
        try:
            return cls(
                run_id=str(data["run_id"]),
                backend=str(data["backend"]),
                project_id=str(data["project_id"]),
                project_url=str(data["project_url"]),
                names={int(key): str(value) for key, value in data["names"].items()},
                frames=tuple(
                    RunFrame(str(c), int(f), str(k), int(w), int(h), None if t is None else int(t), tuple(r))
                    for c, f, k, w, h, t, r in data["frames"]
                ),
                created_at=str(data["created_at"]),
                model_version=str(data.get("model_version", "")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise AnnotationError(f"annotation run record is malformed: {error}") from error

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))

    def by_key(self) -> dict[str, RunFrame]:
        return {f.key: f for f in self.frames}

    def by_task(self) -> dict[int, RunFrame]:
        return {f.task_id: f for f in self.frames if f.task_id is not None}


@dataclass(frozen=True, slots=True)
class Rejection:
    """A box (or a whole frame, `label` None) that was not imported, and why."""

    clip_id: str | None
    frame: int | None
    reason: str
    label: str | None = None
    box: tuple[float, ...] | None = None
    source: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class ReviewedFrame:
    """A frame as a human left it: the reviewed boxes, the pre-annotations they started from (None on a cold
    start), who, when and the time spent (`lead_time_s`, None where the format does not carry it)."""

    clip_id: str
    frame: int
    detections: Detections
    pre_annotations: Detections | None
    annotator: str
    created_at: str
    updated_at: str
    lead_time_s: float | None
    reasons: tuple[str, ...] = ()
    annotation_id: str = ""


@dataclass(frozen=True, slots=True)
class PullResult:
    """What a pull brought back: reviewed frames, boxes rejected by validation, frames still waiting for review
    and frames whose task is gone from the platform."""

    frames: tuple[ReviewedFrame, ...]
    rejected: tuple[Rejection, ...]
    pending: tuple[RunFrame, ...]
    missing: tuple[RunFrame, ...]


@dataclass(frozen=True, slots=True)
class RunStatus:
    """Progress of a run on the platform."""

    total: int
    annotated: int
    pending: int
    missing: int


class AnnotationBackend(Protocol):
    """An annotation platform (or an exported-files path)."""

    def push(self, selection: Selection) -> AnnotationRun: ...

    def pull(self, run: AnnotationRun) -> PullResult: ...

    def status(self, run: AnnotationRun) -> RunStatus: ...


@dataclass(frozen=True, slots=True)
class RawBox:
    """A box as a file or platform gave it, before validation: label name and pixel xyxy."""

    label: str
    xyxy: tuple[float, float, float, float]
    score: float = 1.0


@dataclass
class BoxValidation:
    """Validated boxes of one frame: the accepted ones as Detections and the rejections."""

    detections: Detections
    rejected: list[Rejection] = field(default_factory=list)


def validate_boxes(
    boxes: Iterable[RawBox],
    names: Mapping[int, str],
    width: int,
    height: int,
    clip_id: str | None,
    frame: int | None,
    source: str = "",
) -> BoxValidation:
    """Keep the boxes with a known label and finite coordinates inside the image (within a pixel, then clipped);
    reject the rest with a reason. The platforms validate neither."""
    class_of = {name: class_id for class_id, name in names.items()}
    kept: list[tuple[list[float], float, int]] = []
    rejected: list[Rejection] = []
    for box in boxes:
        reason = _box_problem(box, class_of, width, height)
        if reason:
            rejected.append(Rejection(clip_id, frame, reason, box.label, tuple(box.xyxy), source))
            continue
        x1, y1, x2, y2 = box.xyxy
        clipped = [min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width)]
        clipped.append(min(max(y2, 0.0), height))
        kept.append((clipped, min(max(box.score, 0.0), 1.0), class_of[box.label]))
    if not kept:
        return BoxValidation(Detections.empty(names), rejected)
    try:
        detections = Detections(
            np.array([k[0] for k in kept]), np.array([k[1] for k in kept]), np.array([k[2] for k in kept]), names=names
        )
    except DetectionsError as error:
        raise AnnotationError(f"validated boxes still invalid: {error}") from error
    return BoxValidation(detections, rejected)


def _box_problem(box: RawBox, class_of: Mapping[str, int], width: int, height: int) -> str:
    if box.label not in class_of:
        return f"unknown label {box.label!r}; the label schema has {sorted(class_of)}"
    x1, y1, x2, y2 = box.xyxy
    if not all(math.isfinite(value) for value in box.xyxy) or not math.isfinite(box.score):
        return "coordinates or score are not finite numbers"
    if x2 <= x1 or y2 <= y1:
        return f"empty or inverted box {box.xyxy}"
    tolerance = COORDINATE_TOLERANCE_PX
    if x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
        return f"box {tuple(round(v, 1) for v in box.xyxy)} lies outside the {width}x{height} image"
    return ""
