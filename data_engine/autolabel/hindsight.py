"""Hindsight autolabelling: labels for a frame are decided knowing the whole clip, before and after it.

Per-frame detections (one model, or several fused) are linked offline into tracks over the whole clip. Then each
track is judged as a whole: tracks too short or too unsure are spurious and go; a track's class is its
confidence-weighted majority; frames the detector missed inside a track are filled by interpolation; jitter is
smoothed. This repairs what weak per-frame detectors do: flicker, missed frames, class flips, blips.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_engine.attributes import attributes
from data_engine.autolabel.fusion import calibrate, fuse_frame
from data_engine.autolabel.labels import LabelFile
from data_engine.autolabel.stream import AutolabelError, ProgressCallback, detect_clip_once, detect_stream
from data_engine.detections import Detections, Provenance, box_iou, match_boxes
from data_engine.detectors.base import Detector, check_same_classes, operating_threshold

_VELOCITY_WINDOW = 5


@dataclass(frozen=True, slots=True)
class HindsightParams:
    """Knobs of one autolabelling run (recorded in the label file).

    every: run the detectors on every n-th frame (the others are interpolated inside tracks).
    iou_match: least IoU between a track's predicted box and a detection to extend the track.
    start_score: least confidence (on the common scale, see `fusion.calibrate`) for a detection to start a track
    and to be matched first; less confident ones may only continue a track (ByteTrack's high threshold). 0.4 on real
    footage (TUD-Campus, YOLOX-Nano) cuts the false boxes of 0.25 by two thirds and keeps the synthetic proving
    ground's weak models' recall, which 0.5 does not (bench/README.md "Hindsight on real footage"). Run the
    detectors with a lower conf than this so that hindsight sees the unsure boxes too.
    max_gap: most consecutive frames a track may miss and still be continued (and filled by interpolation).
    min_track_len: tracks spanning fewer frames are spurious. min_track_score: tracks whose mean detection
    confidence is lower are spurious.
    smooth_window: frames in the Savitzky-Golay window (odd, 1 = no smoothing).
    fuse_iou: least IoU for boxes of different models to be fused into one."""

    every: int = 1
    batch: int = 16
    iou_match: float = 0.3
    start_score: float = 0.4
    max_gap: int = 10
    min_track_len: int = 5
    min_track_score: float = 0.2
    smooth_window: int = 5
    fuse_iou: float = 0.55

    def __post_init__(self) -> None:
        if self.every < 1 or self.batch < 1 or self.max_gap < 0 or self.min_track_len < 1:
            raise AutolabelError(f"every, batch and min_track_len must be >= 1 and max_gap >= 0; got {self}")
        if self.smooth_window < 1 or self.smooth_window % 2 == 0:
            raise AutolabelError(f"smooth_window must be an odd number of frames; got {self.smooth_window}")


@dataclass(frozen=True, slots=True)
class HindsightStats:
    """What hindsight did to one clip. `gaps_filled` counts filled runs of frames inside tracks (frames skipped
    by `every` included), `boxes_interpolated` the boxes they added."""

    frames: int
    frames_processed: int
    raw_boxes: int
    boxes: int
    tracks: int
    spurious_tracks_removed: int
    duplicate_tracks_removed: int
    gaps_filled: int
    boxes_interpolated: int
    class_flips_fixed: int
    fused_boxes: int = 0
    seconds: float = 0.0
    seconds_per_frame: float = 0.0


@dataclass(frozen=True, slots=True)
class AutolabelResult:
    """Hindsight labels of every frame, the raw per-model detections they came from, and how they were made."""

    video_path: Path
    frame_count: int
    width: int
    height: int
    names: dict[int, str]
    frames: tuple[Detections, ...]
    raw: dict[str, list[Detections | None]]
    models: tuple[dict[str, Any], ...]
    params: HindsightParams
    stats: HindsightStats
    inferred_frames: dict[str, int] = field(default_factory=dict)
    stored_detections: tuple[Path, ...] = ()


@dataclass(slots=True)
class _Track:
    """Observations of one object: frame indices (increasing), boxes, scores, classes, provenance."""

    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    classes: list[int] = field(default_factory=list)
    provenance: list[Provenance] = field(default_factory=list)

    def add(self, frame: int, detections: Detections, row: int) -> None:
        self.frames.append(frame)
        self.boxes.append(detections.xyxy[row].astype(np.float64))
        self.scores.append(float(detections.confidence[row]))
        self.classes.append(int(detections.class_id[row]))
        self.provenance.append(detections.provenance[row])

    def predict(self, frame: int) -> np.ndarray:
        """Constant-velocity guess of the box at `frame`, velocity over the last few observations."""
        back = min(len(self.frames), _VELOCITY_WINDOW)
        if back < 2:
            return self.boxes[-1]
        span = self.frames[-1] - self.frames[-back]
        velocity = (self.boxes[-1] - self.boxes[-back]) / span
        return self.boxes[-1] + velocity * (frame - self.frames[-1])


@dataclass(slots=True)
class _Counters:
    spurious: int = 0
    duplicates: int = 0
    gaps: int = 0
    interpolated: int = 0
    flips: int = 0


def autolabel_clip(
    video_path: str | Path,
    detectors: Sequence[Detector],
    params: HindsightParams | None = None,
    progress: ProgressCallback | None = None,
    detections_folder: str | Path | None = None,
) -> AutolabelResult:
    """Detect (streaming, batched, decoding in parallel), fuse when several detectors, then apply hindsight.

    With `detections_folder` (the clip's stored detections, see `detect_clip_once`), frames a detector already ran
    on, while mining for instance, are read back instead of inferred again, and the new ones are stored."""
    params = params or HindsightParams()
    names = check_same_classes(detectors)
    started = time.perf_counter()
    stored: tuple[Path, ...] = ()
    if detections_folder is None:
        streamed = detect_stream(video_path, detectors, every=params.every, batch=params.batch, progress=progress)
    else:
        inference = detect_clip_once(
            video_path, detectors, detections_folder, every=params.every, batch=params.batch, progress=progress
        )
        streamed, stored = inference.streamed, inference.written
    thresholds = [operating_threshold(detector) for detector in detectors]
    per_frame = [
        None
        if parts[0] is None
        else fuse_frame(
            [calibrate(part, threshold) for part, threshold in zip(parts, thresholds, strict=True)], params.fuse_iou
        )
        for parts in zip(*streamed.per_model.values(), strict=True)
    ]
    fused_boxes = sum(sum(p.kind == "fused" for p in frame.provenance) for frame in per_frame if frame is not None)
    frames, counters = apply_hindsight(per_frame, names, params, streamed.width, streamed.height)
    seconds = time.perf_counter() - started
    stats = HindsightStats(
        frames=streamed.frame_count,
        frames_processed=streamed.processed_frames,
        raw_boxes=sum(len(found) for model in streamed.per_model.values() for found in model if found is not None),
        boxes=sum(len(frame) for frame in frames),
        tracks=len({int(track) for frame in frames for track in frame.track_id}),
        spurious_tracks_removed=counters.spurious,
        duplicate_tracks_removed=counters.duplicates,
        gaps_filled=counters.gaps,
        boxes_interpolated=counters.interpolated,
        class_flips_fixed=counters.flips,
        fused_boxes=int(fused_boxes),
        seconds=round(seconds, 3),
        seconds_per_frame=round(seconds / streamed.frame_count, 5),
    )
    return AutolabelResult(
        video_path=Path(video_path),
        frame_count=streamed.frame_count,
        width=streamed.width,
        height=streamed.height,
        names=names,
        frames=tuple(frames),
        raw=streamed.per_model,
        models=tuple(detector.params for detector in detectors),
        params=params,
        stats=stats,
        inferred_frames={model_id: len(frames) for model_id, frames in streamed.inferred.items()},
        stored_detections=stored,
    )


def apply_hindsight(
    per_frame: Sequence[Detections | None],
    names: dict[int, str],
    params: HindsightParams,
    width: int,
    height: int,
) -> tuple[list[Detections], _Counters]:
    """Hindsight over per-frame detections (None = frame not processed): link, judge, fill, smooth, relabel."""
    tracks = link_tracks([None if found is None else suppress_duplicates(found) for found in per_frame], params)
    unique = drop_duplicate_tracks(tracks)
    kept = [track for track in unique if _is_real(track, params)]
    counters = _Counters(spurious=len(unique) - len(kept), duplicates=len(tracks) - len(unique))
    boxes_per_frame: list[list[tuple[np.ndarray, float, int, int, Provenance]]] = [[] for _ in per_frame]
    for track_id, track in enumerate(sorted(kept, key=lambda t: t.frames[0]), start=1):
        frames, boxes, scores, provenance, gaps = _densify(track)
        boxes = _smooth(boxes, params.smooth_window)
        boxes = np.clip(boxes, 0, [width, height, width, height])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
        class_id, flips, provenance = _vote_class(track, frames, provenance)
        counters.gaps += gaps
        counters.interpolated += sum(p.kind == "interpolated" for p in provenance)
        counters.flips += flips
        for index, frame in enumerate(frames):
            boxes_per_frame[frame].append((boxes[index], scores[index], class_id, track_id, provenance[index]))
    return [_frame_detections(entries, names) for entries in boxes_per_frame], counters


def suppress_duplicates(detections: Detections, iou_threshold: float = 0.7) -> Detections:
    """Class-agnostic NMS: detectors suppress overlaps per class, so one object can come back as a car AND a
    person; keep the more confident box (the track's class vote settles the class)."""
    if len(detections) < 2:
        return detections
    order = np.argsort(-detections.confidence, kind="stable")
    overlaps = box_iou(detections.xyxy[order], detections.xyxy[order])
    keep: list[int] = []
    for position in range(len(order)):
        if all(overlaps[position, kept] < iou_threshold for kept in keep):
            keep.append(position)
    return detections[np.sort(order[keep])]


def link_tracks(per_frame: Sequence[Detections | None], params: HindsightParams) -> list[_Track]:
    """Offline IoU tracking with constant-velocity prediction, class-agnostic (weak models flip classes; the class
    is decided per track afterwards). ByteTrack-style two stages per frame: confident detections are assigned
    first (Hungarian on IoU), then unsure ones may only extend the tracks left over; only confident detections
    start tracks, so low-confidence duplicates never become tracks of their own."""
    allowed_gap = max(params.max_gap, params.every - 1)
    tracks: list[_Track] = []
    active: list[int] = []
    for frame, detections in enumerate(per_frame):
        if detections is None:
            continue
        active = [index for index in active if frame - tracks[index].frames[-1] - 1 <= allowed_gap]
        if not len(detections):
            continue
        confident = detections.confidence >= params.start_score
        first = _assign(tracks, active, detections, np.flatnonzero(confident), frame, params.iou_match)
        extended = {track for track, _ in first}
        leftover = [index for index in active if index not in extended]
        second = _assign(tracks, leftover, detections, np.flatnonzero(~confident), frame, params.iou_match)
        for track_index, column in first + second:
            tracks[track_index].add(frame, detections, column)
        for column in sorted(set(np.flatnonzero(confident).tolist()) - {column for _, column in first}):
            track = _Track()
            track.add(frame, detections, column)
            tracks.append(track)
            active.append(len(tracks) - 1)
    return tracks


def _assign(
    tracks: list[_Track], waiting: list[int], detections: Detections, columns: np.ndarray, frame: int, least_iou: float
) -> list[tuple[int, int]]:
    """Optimal IoU assignment of detections `columns` to the waiting tracks' predicted boxes."""
    if not waiting or not len(columns):
        return []

    predicted = np.array([tracks[index].predict(frame) for index in waiting])
    matched = match_boxes(predicted, detections.xyxy[columns], least_iou)
    return [(waiting[row], int(columns[column])) for row, column in zip(matched.first, matched.second, strict=True)]


def drop_duplicate_tracks(tracks: list[_Track], least_iou: float = 0.5) -> list[_Track]:
    """Tracks that mostly shadow a stronger track (same frames, IoU >= least_iou on at least half of their
    observations) are one object seen twice: keep the stronger (higher summed confidence)."""
    kept: list[_Track] = []
    for track in sorted(tracks, key=lambda t: -sum(t.scores)):
        boxes_at = dict(zip(track.frames, track.boxes, strict=True))
        if not any(_shadowed_fraction(boxes_at, stronger, least_iou) >= 0.5 for stronger in kept):
            kept.append(track)
    return sorted(kept, key=lambda t: t.frames[0])


def _shadowed_fraction(boxes_at: dict[int, np.ndarray], stronger: _Track, least_iou: float) -> float:
    if stronger.frames[-1] < min(boxes_at) or stronger.frames[0] > max(boxes_at):
        return 0.0
    common = [
        (boxes_at[frame], box) for frame, box in zip(stronger.frames, stronger.boxes, strict=True) if frame in boxes_at
    ]
    if not common:
        return 0.0
    overlaps = box_iou(np.array([mine for mine, _ in common]), np.array([theirs for _, theirs in common])).diagonal()
    return float(np.sum(overlaps >= least_iou)) / len(boxes_at)


def _is_real(track: _Track, params: HindsightParams) -> bool:
    span = track.frames[-1] - track.frames[0] + 1
    return span >= params.min_track_len and float(np.mean(track.scores)) >= params.min_track_score


def _densify(track: _Track) -> tuple[list[int], np.ndarray, list[float], list[Provenance], int]:
    """Every frame from the track's first to last: observed boxes, and linear interpolation across gaps."""
    frames, boxes, scores, provenance = [], [], [], []
    gaps = 0
    for index, frame in enumerate(track.frames):
        if index:
            previous = track.frames[index - 1]
            if frame - previous > 1:
                gaps += 1
                models = tuple(sorted(set(track.provenance[index - 1].models) | set(track.provenance[index].models)))
                for missing in range(previous + 1, frame):
                    weight = (missing - previous) / (frame - previous)
                    frames.append(missing)
                    boxes.append((1 - weight) * track.boxes[index - 1] + weight * track.boxes[index])
                    scores.append(min(track.scores[index - 1], track.scores[index]))
                    provenance.append(Provenance("interpolated", models))
        frames.append(frame)
        boxes.append(track.boxes[index])
        scores.append(track.scores[index])
        provenance.append(track.provenance[index])
    return frames, np.array(boxes), scores, provenance, gaps


def _smooth(boxes: np.ndarray, window: int) -> np.ndarray:
    """Savitzky-Golay (local linear fit): removes jitter, keeps constant-velocity motion exact."""
    window = min(window, len(boxes) if len(boxes) % 2 else len(boxes) - 1)
    if window < 3:
        return boxes
    from scipy.signal import savgol_filter  # imported on use: scipy.signal takes ~0.5 s to import

    return savgol_filter(boxes, window_length=window, polyorder=1, axis=0, mode="interp")


def _vote_class(track: _Track, frames: list[int], provenance: list[Provenance]) -> tuple[int, int, list[Provenance]]:
    """The track's confidence-weighted majority class; boxes that said otherwise are relabelled and it is
    recorded in their provenance."""
    votes: dict[int, float] = {}
    for class_id, score in zip(track.classes, track.scores, strict=True):
        votes[class_id] = votes.get(class_id, 0.0) + score
    winner = max(votes, key=votes.__getitem__)
    observed_class = dict(zip(track.frames, track.classes, strict=True))
    flips = 0
    relabelled = []
    for frame, origin in zip(frames, provenance, strict=True):
        said = observed_class.get(frame, winner)
        if said != winner:
            flips += 1
            origin = Provenance(origin.kind, origin.models, origin.fused_from, relabelled_from=said)
        relabelled.append(origin)
    return winner, flips, relabelled


def _frame_detections(
    entries: list[tuple[np.ndarray, float, int, int, Provenance]], names: dict[int, str]
) -> Detections:
    if not entries:
        return Detections.empty(names)
    return Detections(
        xyxy=np.array([entry[0] for entry in entries]),
        confidence=np.array([entry[1] for entry in entries]),
        class_id=np.array([entry[2] for entry in entries]),
        track_id=np.array([entry[3] for entry in entries]),
        provenance=[entry[4] for entry in entries],
        names=names,
    )


def params_dict(params: HindsightParams) -> dict[str, Any]:
    """The params as a JSON-ready dict."""
    return asdict(params)


def label_file_from_result(result: AutolabelResult, clip_id: str, version: int) -> LabelFile:
    """The label file of an autolabelling run."""
    return LabelFile(
        clip_id=clip_id,
        version=version,
        kind="autolabel",
        **attributes(result, "frame_count", "width", "height", "names", "frames", "models"),
        params=params_dict(result.params),
        stats=asdict(result.stats),
    )
