"""The annotation contract every backend speaks (FiftyOne-style): a `ReviewRequest` of frames goes out through an
`AnnotationBackend` chosen by name, the push returns a serialisable `AnnotationRun`, and a pull reads that record
back, later and elsewhere, to bring the answers home as canonical `Detections` with who, when and how long.

Frames are known outside the engine by their clip id (already pseudonymous: a hash of the video's content plus an
ordinal), frame index and time within the clip; no source path, file name or camera name leaves the engine. The
run keeps the map from the platform's task ids back to our frames.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from data_engine.attributes import attributes
from data_engine.closing import Closing
from data_engine.detections import Detections, Provenance
from data_engine.errors import EngineError
from data_engine.formats import BoxProblem, LabelledImage, to_detections
from data_engine.progress import StepProgress
from data_engine.settings import Settings
from data_engine.store import Store

_UNSAFE_IN_NAMES = re.compile(r"[^A-Za-z0-9.-]")
RUN_SCHEMA = "data-engine/annotation-run"
RUN_SCHEMA_VERSION = 1
FRAME_KEY_FIELD = "frame_key"


class AnnotationError(EngineError):
    """An annotation push, pull or import that cannot go on; the message says what to do."""


class AnnotationAuthError(AnnotationError):
    """The platform rejected our credentials."""


class AnnotationUnavailableError(AnnotationError):
    """The platform did not answer (down, unreachable, or failing with server errors) after the retries."""


class AnnotationRunLostError(AnnotationError):
    """The platform no longer has what a run was pushed to (its project was deleted): its frames must be pushed
    again. `reason` says what is gone."""

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"{reason}; `data-engine push` sends its frames again")
        self.run_id = run_id
        self.reason = reason


def frame_key(clip_id: str, frame: int) -> str:
    """The stable id of one frame on a platform (what makes a push idempotent there): reveals no path."""
    return hashlib.sha256(f"{clip_id}\x00{int(frame)}".encode()).hexdigest()[:24]


def image_name(clip_id: str, frame: int, time_s: float | None) -> str:
    """The frame's image file name as annotators see it: clip id, frame index and time within the clip, so that
    neighbouring frames can be told apart (`<clip>_f000123_t4.920s.jpg`)."""
    when = "" if time_s is None else f"_t{time_s:.3f}s"
    return f"{_UNSAFE_IN_NAMES.sub('-', clip_id)}_f{int(frame):06d}{when}.jpg"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True, eq=False)
class FrameToReview:
    """One frame to send to annotators: where it comes from (clip, frame, time within the clip), its pixels (a file
    or a BGR array), its size, the autolabels to pre-annotate it with (None on a cold start) and the triggers that
    selected it."""

    clip_id: str
    frame: int
    width: int
    height: int
    image_path: Path | None = None
    image: np.ndarray | None = None
    pre_annotations: Detections | None = None
    reasons: tuple[str, ...] = ()
    time_s: float | None = None

    def __post_init__(self) -> None:
        if (self.image_path is None) == (self.image is None):
            raise AnnotationError(f"frame {self.frame} of clip {self.clip_id}: give exactly one of image_path, image")
        if self.width <= 0 or self.height <= 0:
            raise AnnotationError(f"frame {self.frame} of clip {self.clip_id}: size {self.width}x{self.height}")

    @property
    def key(self) -> str:
        return frame_key(self.clip_id, self.frame)

    @property
    def image_name(self) -> str:
        return image_name(self.clip_id, self.frame, self.time_s)


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """Frames to send to annotators under one label schema (class id -> name). `name` names the project (or the
    bundle's title); `model_version` tags the pre-annotations."""

    frames: tuple[FrameToReview, ...]
    names: dict[int, str]
    name: str = "data-engine"
    model_version: str = "autolabel"

    def __post_init__(self) -> None:
        if not self.names:
            raise AnnotationError("a review request needs a label schema: give the class names")
        keys = [frame.key for frame in self.frames]
        if len(set(keys)) != len(keys):
            raise AnnotationError("a review request lists the same (clip, frame) twice; send each frame once")
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
    """A frame of a run: our ids, its platform key, the platform's task id (None for bundles), size, the reasons
    it was selected and its image file name."""

    clip_id: str
    frame: int
    key: str
    width: int
    height: int
    task_id: int | None = None
    reasons: tuple[str, ...] = ()
    image: str = ""


@dataclass(frozen=True, slots=True)
class AnnotationRun:
    """A serialisable record of one push: backend, project (id and URL; the folder for a bundle), label schema,
    frames with the map between platform task ids and our (clip id, frame), when, and for bundles the format the
    annotators answer in. Holds no credentials."""

    run_id: str
    backend: str
    project_id: str
    project_url: str
    names: dict[int, str]
    frames: tuple[RunFrame, ...]
    created_at: str
    model_version: str = ""
    answer_format: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": RUN_SCHEMA,
            "schema_version": RUN_SCHEMA_VERSION,
            **attributes(self, "run_id", "backend", "project_id", "project_url"),
            "names": {str(key): value for key, value in self.names.items()},
            **attributes(self, "model_version", "answer_format", "created_at"),
            "frames": [
                [f.clip_id, f.frame, f.key, f.width, f.height, f.task_id, list(f.reasons), f.image] for f in self.frames
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AnnotationRun:
        """Inverse of `to_json`; records written before frames carried their image name read back too."""
        if data.get("schema") != RUN_SCHEMA or data.get("schema_version") != RUN_SCHEMA_VERSION:
            raise AnnotationError(f"not a {RUN_SCHEMA} v{RUN_SCHEMA_VERSION} record")
        try:
            return cls(
                run_id=str(data["run_id"]),
                backend=str(data["backend"]),
                project_id=str(data["project_id"]),
                project_url=str(data["project_url"]),
                names={int(key): str(value) for key, value in data["names"].items()},
                frames=tuple(_run_frame(entry) for entry in data["frames"]),
                created_at=str(data["created_at"]),
                model_version=str(data.get("model_version", "")),
                answer_format=str(data.get("answer_format", "")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise AnnotationError(f"annotation run record is malformed: {error}") from error

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))

    def by_key(self) -> dict[str, RunFrame]:
        return {f.key: f for f in self.frames}

    def by_task(self) -> dict[int, RunFrame]:
        return {f.task_id: f for f in self.frames if f.task_id is not None}


def _run_frame(entry: Any) -> RunFrame:
    clip_id, frame, key, width, height, task_id, reasons, *image = entry
    return RunFrame(
        str(clip_id),
        int(frame),
        str(key),
        int(width),
        int(height),
        None if task_id is None else int(task_id),
        tuple(reasons),
        str(image[0]) if image else "",
    )


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
    """What a pull or an import brought back: reviewed frames; rejections (boxes refused by validation, and whole
    frames, `label` None, whose every box was refused and which therefore stay unreviewed); frames without an
    answer yet; frames whose task is gone from the platform; and what was read (`source`, `format`)."""

    frames: tuple[ReviewedFrame, ...]
    rejected: tuple[Rejection, ...]
    pending: tuple[RunFrame, ...]
    missing: tuple[RunFrame, ...] = ()
    source: str = ""
    format: str = ""

    @property
    def rejected_frames(self) -> tuple[Rejection, ...]:
        return tuple(r for r in self.rejected if r.label is None and r.box is None and r.frame is not None)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "frames": len(self.frames),
            "boxes": sum(len(frame.detections) for frame in self.frames),
            "pending": len(self.pending),
            "missing": len(self.missing),
            "rejected": [
                {"clip_id": r.clip_id, "frame": r.frame, "label": r.label, "box": r.box, "reason": r.reason}
                for r in self.rejected
            ],
        }


@dataclass(frozen=True, slots=True)
class RunProgress:
    """How far a run is on its platform: frames answered, waiting, and gone."""

    total: int
    annotated: int
    pending: int
    missing: int


def reviewed_frame(
    run: AnnotationRun,
    run_frame: RunFrame,
    image: LabelledImage,
    pre_annotations: Detections | None,
    source: str,
    default_annotator: str = "unknown",
    answered_at: str = "",
) -> tuple[ReviewedFrame | None, list[Rejection]]:
    """An answered image as a reviewed frame, its boxes validated against the run's label schema and the frame's
    size. A frame whose every box was refused is no answer (storing it as "reviewed, empty" would teach the next
    model that nothing is there): it comes back as None with a frame rejection. An answer with no boxes at all is
    an explicit "reviewed, nothing to label" and counts. `answered_at` dates answers whose format gives no time
    (the answer file's modification time: the same file read twice gives the same record)."""
    detections, problems = to_detections(
        image.boxes, run.names, run_frame.width, run_frame.height, image.image, provenance=Provenance("reviewed")
    )
    rejected = [_rejection(run_frame, problem, source) for problem in problems]
    if not len(detections) and (problems or image.refused):
        refused = len(problems) + image.refused
        reason = f"all {refused} boxes of the answer were refused; the frame stays unreviewed"
        return None, [*rejected, Rejection(run_frame.clip_id, run_frame.frame, reason, source=source)]
    answer = image.answer
    reviewed = ReviewedFrame(
        clip_id=run_frame.clip_id,
        frame=run_frame.frame,
        detections=detections,
        pre_annotations=pre_annotations,
        annotator=answer.annotator or default_annotator,
        created_at=answer.created_at or answered_at or now_iso(),
        updated_at=answer.updated_at or answer.created_at or answered_at or now_iso(),
        lead_time_s=answer.lead_time_s,
        reasons=run_frame.reasons,
        annotation_id=answer.annotation_id,
    )
    return reviewed, rejected


def _rejection(run_frame: RunFrame, problem: BoxProblem, source: str) -> Rejection:
    return Rejection(run_frame.clip_id, run_frame.frame, problem.reason, problem.label, problem.box, source)


class AnnotationBackend(Closing):
    """An annotation platform, or exported files for any tool. Backends are chosen by `name` from the settings
    (`data_engine.annotation.backend_for`); `push` returns a serialisable `AnnotationRun` that `pull` reads back
    in another process, days later."""

    name: ClassVar[str]
    polled: ClassVar[bool]
    """True when answers arrive on the platform by themselves and a pull fetches them; False when they come back
    by hand (an import)."""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings, store: Store) -> Self:
        """The backend as the engine's settings configure it."""

    @property
    @abstractmethod
    def platform(self) -> str:
        """Where frames go, as the catalog's uniqueness key: a frame is pushed to one platform at most once."""

    @abstractmethod
    def push(self, request: ReviewRequest, run_id: str, progress: StepProgress | None = None) -> AnnotationRun:
        """Send the frames as run `run_id`. Repeating a push with the same run id (after a crash) completes it
        without sending anything twice."""

    @abstractmethod
    def pull(self, run: AnnotationRun) -> PullResult:
        """The run's answers so far (the latest answer of each frame)."""

    @abstractmethod
    def progress(self, run: AnnotationRun) -> RunProgress:
        """How many of the run's frames are answered, waiting, or gone."""

    def lost(self, run: AnnotationRun) -> str | None:
        """Why the platform no longer holds `run` (its project was deleted), or None while it does. Backends
        whose runs live in the engine's own store (bundles) never lose one."""
        return None

    def retire(self, run: AnnotationRun) -> None:
        """Before `run`'s frames are pushed again as a new run: remove its unanswered tasks that are still on the
        platform, so the new push creates fresh ones instead of adopting them (answered ones are kept)."""

    def repair(self, run: AnnotationRun) -> bool:
        """Re-create what a finished push derived and lost (a bundle's zip); True when something was. Backends
        that keep nothing derived have nothing to repair."""
        return False

    def close(self) -> None:
        """Release connections; the default holds none."""
