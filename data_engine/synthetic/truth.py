"""Ground truth of a proving-ground video: per-frame boxes with class, track id and visibility, plus the injected
events with their frame ranges. Stored as JSON next to the video."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data_engine.attributes import attributes
from data_engine.detections import Detections
from data_engine.documents import read_json_document
from data_engine.errors import EngineError

TRUTH_SCHEMA = "data-engine/synthetic-truth"
TRUTH_VERSION = 1
HARD_CONDITIONS: tuple[str, ...] = ("rare_look", "lighting", "long_occlusion", "motion_blur", "border")
"""Event types that are rare hard conditions: the frames an event of these covers carry its type as a condition
label (`GroundTruth.conditions_at`)."""
EVENT_TYPES = ("flicker", "full_occlusion", "distractor", "static", *HARD_CONDITIONS)


class TruthError(EngineError, ValueError):
    """A ground-truth file that is missing, of another schema or malformed."""


@dataclass(frozen=True, slots=True)
class TruthBox:
    """One object in one frame. `visibility`: fraction of the object's pixels that are visible (not occluded, not
    outside the image); `xyxy` is clipped to the image."""

    track_id: int
    class_id: int
    xyxy: tuple[float, float, float, float]
    visibility: float


@dataclass(frozen=True, slots=True)
class Event:
    """An injected difficulty covering frames first_frame..last_frame inclusive; `track_id` is the object involved
    (-1 when it concerns the whole frame)."""

    type: str
    first_frame: int
    last_frame: int
    track_id: int = -1

    def covers(self, frame: int) -> bool:
        return self.first_frame <= frame <= self.last_frame


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """Exact truth of one generated video."""

    seed: int
    fps: float
    width: int
    height: int
    names: dict[int, str]
    frames: tuple[tuple[TruthBox, ...], ...]
    distractors: tuple[tuple[TruthBox, ...], ...]
    events: tuple[Event, ...]

    @property
    def frame_count(self) -> int:
        return len(self.frames)

    def boxes_at(self, frame: int, min_visibility: float = 0.0) -> Detections:
        """The true boxes of `frame` (confidence 1) whose visibility is at least `min_visibility`."""
        boxes = [box for box in self.frames[frame] if box.visibility >= min_visibility and box.visibility > 0]
        if not boxes:
            return Detections.empty(self.names)
        return Detections(
            xyxy=np.array([box.xyxy for box in boxes]),
            confidence=np.ones(len(boxes)),
            class_id=np.array([box.class_id for box in boxes]),
            track_id=np.array([box.track_id for box in boxes]),
            names=self.names,
        )

    def visibility_at(self, frame: int) -> np.ndarray:
        """Visibility of each box of `boxes_at(frame)` (same order, min_visibility=0)."""
        return np.array(
            [box.visibility for box in self.frames[frame] if box.visibility > 0],
            dtype=np.float32,
        )

    def events_of(self, event_type: str) -> list[Event]:
        return [event for event in self.events if event.type == event_type]

    def conditions_at(self, frame: int) -> tuple[str, ...]:
        """The hard conditions of `frame` (empty for an easy frame), sorted."""
        return tuple(
            sorted({event.type for event in self.events if event.type in HARD_CONDITIONS and event.covers(frame)})
        )

    def hard_frames(self) -> set[int]:
        """Every frame under at least one hard condition: the rare-case slice."""
        return {
            frame
            for event in self.events
            if event.type in HARD_CONDITIONS
            for frame in range(event.first_frame, event.last_frame + 1)
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": TRUTH_SCHEMA,
            "version": TRUTH_VERSION,
            **attributes(self, "seed", "fps", "width", "height", "frame_count"),
            "names": {str(key): value for key, value in self.names.items()},
            "frames": [
                {
                    "frame": index,
                    "boxes": [_box_json(box) for box in boxes],
                    "distractors": [_box_json(box) for box in self.distractors[index]],
                }
                for index, boxes in enumerate(self.frames)
            ],
            "events": [attributes(e, "type", "first_frame", "last_frame", "track_id") for e in self.events],
        }


def _box_json(box: TruthBox) -> dict[str, Any]:
    return {
        "track_id": box.track_id,
        "class_id": box.class_id,
        "xyxy": [round(value, 2) for value in box.xyxy],
        "visibility": round(box.visibility, 3),
    }


def _box_from_json(data: dict[str, Any]) -> TruthBox:
    x1, y1, x2, y2 = (float(value) for value in data["xyxy"])
    return TruthBox(int(data["track_id"]), int(data["class_id"]), (x1, y1, x2, y2), float(data["visibility"]))


def load_truth(path: str | Path) -> GroundTruth:
    """Read a ground-truth JSON written by `generate`."""
    path = Path(path)
    data = read_json_document(path, TruthError, "ground-truth file")
    if data.get("schema") != TRUTH_SCHEMA or data.get("version") != TRUTH_VERSION:
        raise TruthError(f"{path} is not a {TRUTH_SCHEMA} v{TRUTH_VERSION} file")
    try:
        return GroundTruth(
            seed=int(data["seed"]),
            fps=float(data["fps"]),
            width=int(data["width"]),
            height=int(data["height"]),
            names={int(key): value for key, value in data["names"].items()},
            frames=tuple(tuple(_box_from_json(box) for box in frame["boxes"]) for frame in data["frames"]),
            distractors=tuple(
                tuple(_box_from_json(box) for box in frame.get("distractors", [])) for frame in data["frames"]
            ),
            events=tuple(Event(e["type"], e["first_frame"], e["last_frame"], e["track_id"]) for e in data["events"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise TruthError(f"ground-truth file {path} is malformed: {error}") from error
