"""MOTChallenge text files (ground truth, detector and tracker results): read with one clear error per problem,
written back for other tools.

One line per box, comma-separated: frame (from 1), id (-1: an untracked detection), left, top, width, height, then
- 7 values: a confidence (in ground truth a mark: 0 = ignore this box, anything else = evaluate it);
- 9 values (MOT16/17/20 ground truth): mark, class (1 = pedestrian; MOT17's class list), visibility (0..1);
- 10 values (MOT15 ground truth and result files): confidence or mark, then world x, y, z (unused, -1).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_engine.detections import Detections
from data_engine.errors import EngineError

MOT_CLASSES: dict[int, str] = {
    1: "pedestrian",
    2: "person_on_vehicle",
    3: "car",
    4: "bicycle",
    5: "motorbike",
    6: "non_mot_vehicle",
    7: "static_person",
    8: "distractor",
    9: "occluder",
    10: "occluder_on_ground",
    11: "occluder_full",
    12: "reflection",
    13: "crowd",
}
PEDESTRIAN = 1
DISTRACTOR_CLASSES = (2, 7, 8, 12)
"""Ground-truth classes a result box may cover without counting as a false positive (MOTChallenge's rule, as in
TrackEval: person on a vehicle, static person, distractor, reflection)."""
COLUMN_COUNTS = (7, 9, 10)


class MotFormatError(EngineError, ValueError):
    """A MOTChallenge file that cannot be read as one; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class MotTable:
    """The boxes of one MOTChallenge file. `frame` counts from 1; `class_id` is PEDESTRIAN and `visibility` 1 where
    the file has no such columns; `confidence` is the seventh value (the mark in ground truth)."""

    path: Path
    columns: int
    frame: np.ndarray
    track_id: np.ndarray
    xywh: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    visibility: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def xyxy(self) -> np.ndarray:
        return np.concatenate([self.xywh[:, :2], self.xywh[:, :2] + self.xywh[:, 2:]], axis=1)

    @property
    def has_classes(self) -> bool:
        return self.columns == 9

    def rows_at(self, frame: int) -> np.ndarray:
        """Indices of the boxes of `frame` (counted from 1)."""
        return np.flatnonzero(self.frame == frame)


def read_mot(path: str | Path, frame_count: int | None = None, *, ground_truth: bool = True) -> MotTable:
    """Read a MOTChallenge file. `frame_count`: frames of the video it belongs to (frames outside 1..frame_count are
    an error). Ground truth must hold boxes; a result file may be empty."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError as error:
        raise MotFormatError(f"{path} does not exist; give a MOTChallenge file (frame,id,x,y,w,h,...)") from error
    except (OSError, UnicodeDecodeError) as error:
        raise MotFormatError(f"{path} cannot be read as text: {error}") from error
    rows: list[list[float]] = []
    numbers: list[int] = []
    columns = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        values = [value.strip() for value in line.split(",")]
        if len(values) not in COLUMN_COUNTS:
            raise MotFormatError(
                f"{path} line {number}: {len(values)} values; a MOTChallenge file has 7, 9 or 10 comma-separated "
                f"values per line (frame,id,x,y,w,h,conf[,class,visibility] or [,x,y,z])"
            )
        if columns and len(values) != columns:
            raise MotFormatError(f"{path} line {number}: {len(values)} values where the lines before have {columns}")
        columns = len(values)
        try:
            rows.append([float(value) for value in values])
        except ValueError as error:
            raise MotFormatError(f"{path} line {number}: {error}") from error
        numbers.append(number)
    if not rows:
        if ground_truth:
            raise MotFormatError(f"{path} holds no boxes; ground truth needs at least one")
        return _empty(path)
    data = np.array(rows, dtype=np.float64)
    _check(path, data, np.array(numbers), frame_count)
    return MotTable(
        path=path,
        columns=columns,
        frame=data[:, 0].astype(np.int64),
        track_id=data[:, 1].astype(np.int64),
        xywh=data[:, 2:6].copy(),
        confidence=data[:, 6].copy(),
        class_id=data[:, 7].astype(np.int64) if columns == 9 else np.full(len(data), PEDESTRIAN, dtype=np.int64),
        visibility=data[:, 8].copy() if columns == 9 else np.ones(len(data)),
    )


def _check(path: Path, data: np.ndarray, numbers: np.ndarray, frame_count: int | None) -> None:
    """The first problem found, with its line: frames not whole or out of range, sizes not positive, an id twice
    in one frame."""
    frames = data[:, 0]
    problems = [
        (frames != np.round(frames), "the frame number {value:g} is not a whole number"),
        (frames < 1, "frame {value:g} is before the first frame (MOTChallenge counts frames from 1)"),
    ]
    if frame_count is not None:
        problems.append((frames > frame_count, f"frame {{value:g}} is outside the video's frames 1..{frame_count}"))
    for row_mask, message in problems:
        if row_mask.any():
            row = int(np.argmax(row_mask))
            raise MotFormatError(f"{path} line {numbers[row]}: " + message.format(value=frames[row]))
    for column, name in ((4, "width"), (5, "height")):
        bad = data[:, column] <= 0
        if bad.any():
            row = int(np.argmax(bad))
            kind = "negative" if data[row, column] < 0 else "zero"
            raise MotFormatError(f"{path} line {numbers[row]}: {kind} {name} {data[row, column]:g}; boxes need a size")
    tracked = data[:, 1] >= 0
    keys = data[tracked][:, :2]
    _, first, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        repeated = keys[first[np.argmax(counts > 1)]]
        lines = numbers[tracked][(keys == repeated).all(axis=1)]
        raise MotFormatError(
            f"{path} line {lines[1]}: id {repeated[1]:g} appears twice in frame {repeated[0]:g} (also line {lines[0]})"
        )


def _empty(path: Path) -> MotTable:
    nothing = np.zeros(0)
    return MotTable(
        path,
        10,
        nothing.astype(np.int64),
        nothing.astype(np.int64),
        np.zeros((0, 4)),
        nothing,
        nothing.astype(np.int64),
        nothing,
    )


def write_mot(path: str | Path, per_frame: Sequence[Detections | None]) -> Path:
    """Write per-frame boxes (index 0 = frame 1) as a 10-value MOTChallenge result file: track id (-1 untracked),
    box, confidence, -1,-1,-1. Written atomically."""
    path = Path(path)
    lines = []
    for index, detections in enumerate(per_frame):
        if detections is None:
            continue
        track_ids = detections.track_id if detections.track_id is not None else np.full(len(detections), -1)
        for box, score, track in zip(detections.xyxy, detections.confidence, track_ids, strict=True):
            x1, y1, x2, y2 = (float(value) for value in box)
            lines.append(f"{index + 1},{int(track)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{score:.4f},-1,-1,-1")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("\n".join(lines) + ("\n" if lines else ""))
    os.replace(temporary, path)
    return path
