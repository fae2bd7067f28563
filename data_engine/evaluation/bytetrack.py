"""The tracker a user would pick instead of hindsight: Ultralytics' `BYTETracker` with its default
`bytetrack.yaml`, run online over a model's raw boxes, then each track's gaps of up to `MAX_GAP` frames filled by
linear interpolation (the usual offline post-processing of ByteTrack results, as in its MOTChallenge entries).

The boxes given are the tracker's own output (its Kalman-filtered boxes of the tracks it matched in a frame), with
the matched detection's confidence; an interpolated box gets the lower confidence of the two boxes around its gap.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_engine.detections import Detections

MAX_GAP = 20
"""Longest gap (frames without the track) filled by interpolation."""


class _Boxes:
    """The results-like object `BYTETracker.update` reads: `conf`, `cls`, `xyxy` and `xywh`, boolean indexing."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, dtype=np.float32).reshape(-1)
        self.cls = np.asarray(cls, dtype=np.float32).reshape(-1)

    @property
    def xywh(self) -> np.ndarray:
        centre = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        return np.concatenate([centre, self.xyxy[:, 2:] - self.xyxy[:, :2]], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> _Boxes:
        return _Boxes(self.xyxy[index], self.conf[index], self.cls[index])


def default_config() -> Any:
    """Ultralytics' default ByteTrack settings (ultralytics/cfg/trackers/bytetrack.yaml) as the tracker takes them."""
    import ultralytics
    from ultralytics.utils import YAML, IterableSimpleNamespace

    path = Path(ultralytics.__file__).parent / "cfg" / "trackers" / "bytetrack.yaml"
    return IterableSimpleNamespace(**YAML.load(path))


def bytetrack(frames: Sequence[Detections | None], max_gap: int = MAX_GAP) -> list[Detections]:
    """Track the boxes of every frame (None: no boxes) with BYTETracker, then interpolate gaps of up to `max_gap`."""
    from ultralytics.trackers.byte_tracker import BYTETracker

    tracker = BYTETracker(default_config())
    # track id -> list of (frame, box, confidence, class)
    tracks: dict[int, list[tuple[int, np.ndarray, float, int]]] = {}
    for index, found in enumerate(frames):
        found = found if found is not None else Detections.empty()
        output = tracker.update(_Boxes(found.xyxy, found.confidence, found.class_id), None)
        for row in np.asarray(output).reshape(-1, 8):
            box, track_id, score, cls = row[:4], int(row[4]), float(row[5]), int(row[6])
            tracks.setdefault(track_id, []).append((index, box.astype(np.float64), score, cls))
    return _per_frame(_interpolated(tracks, max_gap), len(frames))


def _interpolated(
    tracks: dict[int, list[tuple[int, np.ndarray, float, int]]], max_gap: int
) -> dict[int, list[tuple[int, np.ndarray, float, int]]]:
    """Each track with its gaps of up to `max_gap` missing frames filled linearly between the boxes around them."""
    filled: dict[int, list[tuple[int, np.ndarray, float, int]]] = {}
    for track_id, observed in tracks.items():
        out = [observed[0]]
        for before, after in itertools.pairwise(observed):
            missing = after[0] - before[0] - 1
            if 0 < missing <= max_gap:
                for frame in range(before[0] + 1, after[0]):
                    share = (frame - before[0]) / (after[0] - before[0])
                    box = (1 - share) * before[1] + share * after[1]
                    out.append((frame, box, min(before[2], after[2]), before[3]))
            out.append(after)
        filled[track_id] = out
    return filled


def _per_frame(tracks: dict[int, list[tuple[int, np.ndarray, float, int]]], frame_count: int) -> list[Detections]:
    rows: list[list[tuple[int, np.ndarray, float, int]]] = [[] for _ in range(frame_count)]
    for track_id, observed in tracks.items():
        for frame, box, score, cls in observed:
            rows[frame].append((track_id, box, score, cls))
    out = []
    for frame_rows in rows:
        if not frame_rows:
            out.append(Detections.empty())
            continue
        out.append(
            Detections(
                np.array([box for _, box, _, _ in frame_rows]),
                np.clip([score for _, _, score, _ in frame_rows], 0.0, 1.0),
                np.array([cls for _, _, _, cls in frame_rows], dtype=np.int64),
                np.array([track_id for track_id, _, _, _ in frame_rows], dtype=np.int64),
            )
        )
    return out
