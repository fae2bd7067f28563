"""Selection of frames for annotation under a budget: per-trigger quotas, near-duplicate suppression by perceptual
hash, diversity across clips and videos, optional per-trigger yield weights, and a record of why each frame was
chosen. Pure functions: the catalog-aware stage feeds them candidates and stores what they return.

Order of work (`select_frames`):

1. Candidates of the same frame (several triggers hit it) become one frame with several reasons. Each reason's
   weight is its score times its trigger's yield (`yields`, default 1: the share of a trigger's frames that humans
   actually corrected, once annotation reports it); the frame counts against the quota of its best reason.
2. Diversity order: round-robin across videos, inside a video round-robin across its clips, inside a clip best
   weight first. Every video gets its best frame in before any gets a second one.
3. Quotas: each trigger takes frames in that order up to `floor(share * budget)`, triggers taking turns; triggers
   without a share split what the given shares leave. Quota a trigger cannot use (too few frames, duplicates) flows
   to the others: the rest of the budget is filled in diversity order from all remaining frames.
4. A frame is skipped when its phash is within `max_distance` bits of a frame selected in this call or of
   `existing_hashes` (frames selected earlier or already in the dataset), or when its clip has `max_per_clip`.

`DEFAULT_DUPLICATE_DISTANCE` = 8 bits (of 64), measured on the sample videos and the proving ground with the
features' phash: consecutive frames differ by 0-6 bits (95th percentile <= 6), frames 5 apart by 4-12 (median),
frames of unrelated videos by at least 14 (1st percentile 22). 8 thus removes frames a few tenths of a second
apart on moving content (and longer stretches of a static shot), never unrelated content.

`diversity_sample` is the cold start (no model, no triggers): frames spread evenly over each clip, clips and videos
taken in turn, with the same duplicate suppression.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_engine.errors import EngineError
from data_engine.mining.features import DEFAULT_DUPLICATE_DISTANCE, FrameFeatures
from data_engine.mining.triggers import Hit

DIVERSITY_TRIGGER = "diversity"
HitRef = str | int | None


class SelectionError(EngineError, ValueError):
    """Candidates or selection parameters that are not valid."""


@dataclass(frozen=True, slots=True)
class FrameCandidate:
    """A frame a trigger proposes: `hit` refers to the hit (e.g. its catalog row id), `phash` is the frame's 64-bit
    perceptual hash, `score` in [0, 1]."""

    clip_id: str
    video_id: str
    frame: int
    phash: int
    trigger: str
    score: float
    hit: HitRef = None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a frame was chosen: a trigger that hit it, with its score and its hit."""

    trigger: str
    score: float
    hit: HitRef = None

    def to_dict(self) -> dict[str, Any]:
        return {"trigger": self.trigger, "score": self.score, "hit": self.hit}


@dataclass(frozen=True, slots=True)
class ChosenFrame:
    """A frame chosen for annotation. `trigger`: the quota it counted against (its best reason, or "diversity"),
    `weight`: its best reason's score times that trigger's yield; `reasons`: every trigger that hit it, best first."""

    clip_id: str
    video_id: str
    frame: int
    phash: int
    trigger: str
    weight: float
    reasons: tuple[Reason, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form: clip_id, video_id, frame, phash (as a 16-digit hex string), trigger, weight, reasons."""
        return {
            "clip_id": self.clip_id,
            "video_id": self.video_id,
            "frame": self.frame,
            "phash": f"{self.phash:016x}",
            "trigger": self.trigger,
            "weight": round(self.weight, 6),
            "reasons": [reason.to_dict() for reason in self.reasons],
        }


@dataclass(frozen=True, slots=True)
class FrameSelection:
    """The frames chosen (in the order they were taken) and what happened to the others."""

    frames: tuple[ChosenFrame, ...]
    budget: int
    candidate_frames: int
    duplicates_skipped: int
    capped_skipped: int
    quotas: dict[str, int]

    @property
    def per_trigger(self) -> dict[str, int]:
        """Frames selected per trigger (the quota each counted against)."""
        counts: dict[str, int] = {}
        for frame in self.frames:
            counts[frame.trigger] = counts.get(frame.trigger, 0) + 1
        return counts


def candidates_from_hits(
    hits: Sequence[Hit],
    features: FrameFeatures,
    clip_id: str,
    video_id: str,
    hit_refs: Sequence[HitRef] | None = None,
) -> list[FrameCandidate]:
    """One candidate per hit: the middle frame of its range (among the frames `features` has), with that frame's
    phash. `hit_refs` (one per hit, e.g. catalog row ids) default to the hits' positions."""
    if hit_refs is not None and len(hit_refs) != len(hits):
        raise SelectionError(f"{len(hit_refs)} hit references for {len(hits)} hits; give one per hit")
    frames, hashes = features["frame_index"], features["phash"]
    candidates = []
    for position, hit in enumerate(hits):
        inside = np.flatnonzero((frames >= hit.first_frame) & (frames <= hit.last_frame))
        if not len(inside):
            raise SelectionError(
                f"hit {hit.trigger} on frames {hit.first_frame}..{hit.last_frame} is outside the clip's features "
                f"(frames {frames.min() if len(frames) else '-'}..{frames.max() if len(frames) else '-'})"
            )
        row = int(inside[len(inside) // 2])
        reference = position if hit_refs is None else hit_refs[position]
        candidates.append(
            FrameCandidate(clip_id, video_id, int(frames[row]), int(hashes[row]), hit.trigger, hit.score, reference)
        )
    return candidates


def select_frames(
    candidates: Sequence[FrameCandidate],
    budget: int,
    quotas: Mapping[str, float] | None = None,
    yields: Mapping[str, float] | None = None,
    existing_hashes: np.ndarray | Sequence[int] | None = None,
    max_distance: int = DEFAULT_DUPLICATE_DISTANCE,
    max_per_clip: int | None = None,
) -> FrameSelection:
    """Choose at most `budget` frames from `candidates` (see the module docstring for how).

    `quotas`: trigger -> share of the budget (shares in [0, 1] summing to at most 1). `yields`: trigger -> weight
    (>= 0) multiplying its scores; triggers without one weigh 1. `existing_hashes`: phashes (uint64) of frames
    already selected or annotated. `max_distance`: frames within this many phash bits are near-duplicates.
    """
    _check_limits(budget, max_distance, max_per_clip)
    shares = _check_weights(quotas, "quota", upper=1.0)
    if sum(shares.values()) > 1.0 + 1e-9:
        raise SelectionError(f"quota shares add up to {sum(shares.values()):.3f}; they must add up to at most 1")
    weights = _check_weights(yields, "yield", upper=math.inf)
    frames = _group(candidates, weights)
    triggers = sorted({frame.trigger for frame in frames})
    quota_frames = _quota_frames(triggers, shares, budget)
    picker = _Picker(frames, budget, existing_hashes, max_distance, max_per_clip)
    order = _diversity_order(frames, [-frame.weight for frame in frames])
    queues = {trigger: [index for index in order if frames[index].trigger == trigger] for trigger in triggers}
    taken = dict.fromkeys(triggers, 0)
    positions = dict.fromkeys(triggers, 0)
    active = [trigger for trigger in triggers if quota_frames[trigger] > 0]
    while active and not picker.full:
        for trigger in list(active):
            queue = queues[trigger]
            while positions[trigger] < len(queue):
                index = queue[positions[trigger]]
                positions[trigger] += 1
                if picker.take(index):
                    taken[trigger] += 1
                    break
            if taken[trigger] >= quota_frames[trigger] or positions[trigger] >= len(queue):
                active.remove(trigger)
            if picker.full:
                break
    for index in order:
        if picker.full:
            break
        picker.take(index)
    return picker.selection(quota_frames)


def diversity_sample(
    frames: Mapping[str, np.ndarray | Sequence[Any]],
    budget: int,
    existing_hashes: np.ndarray | Sequence[int] | None = None,
    max_distance: int = DEFAULT_DUPLICATE_DISTANCE,
    max_per_clip: int | None = None,
) -> FrameSelection:
    """Cold start: choose at most `budget` frames spread evenly over every clip (first frame, middle, quarters,
    eighths, ...), clips and videos taking turns, near-duplicates skipped as in `select_frames`.

    `frames`: the frames that may be chosen as columns of one value per frame: clip_id, video_id, frame_index,
    phash (e.g. the clips' features' frame_index and phash, with their ids repeated)."""
    _check_limits(budget, max_distance, max_per_clip)
    missing = {"clip_id", "video_id", "frame_index", "phash"} - set(frames)
    if missing:
        raise SelectionError(f"frames lack columns {sorted(missing)}; give clip_id, video_id, frame_index, phash")
    clips, videos = np.asarray(frames["clip_id"]), np.asarray(frames["video_id"])
    indices, hashes = np.asarray(frames["frame_index"]), np.asarray(frames["phash"], dtype=np.uint64)
    order = np.lexsort((indices, clips))
    rank, size = _run_ranks(clips[order])
    pool = [
        ChosenFrame(
            str(clip), str(video), int(frame), int(phash), DIVERSITY_TRIGGER, 0.0, (Reason(DIVERSITY_TRIGGER, 0.0),)
        )
        for clip, video, frame, phash in zip(clips[order], videos[order], indices[order], hashes[order], strict=True)
    ]
    picker = _Picker(pool, budget, existing_hashes, max_distance, max_per_clip)
    for index in _diversity_order(pool, _spread_keys(rank, size)):
        if picker.full:
            break
        picker.take(index)
    return picker.selection({DIVERSITY_TRIGGER: budget})


def _check_limits(budget: int, max_distance: int, max_per_clip: int | None) -> None:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
        raise SelectionError(f"budget must be a whole number of frames >= 0; got {budget!r}")
    if not 0 <= max_distance <= 64:
        raise SelectionError(f"max_distance is a number of phash bits in 0..64; got {max_distance}")
    if max_per_clip is not None and max_per_clip < 1:
        raise SelectionError(f"max_per_clip must be at least 1 (or None for no cap); got {max_per_clip}")


def _check_weights(values: Mapping[str, float] | None, what: str, upper: float) -> dict[str, float]:
    checked = {}
    for trigger, value in (values or {}).items():
        if not (math.isfinite(value) or upper == math.inf) or not 0.0 <= value <= upper or math.isnan(value):
            raise SelectionError(f"{what} of trigger {trigger!r} is {value}; expected a finite number in [0, {upper}]")
        checked[trigger] = float(value)
    return checked


def _group(candidates: Sequence[FrameCandidate], yields: Mapping[str, float]) -> list[ChosenFrame]:
    """One `ChosenFrame` (a frame that may be chosen) per (clip, frame), its reasons best weight first."""
    by_frame: dict[tuple[str, int], list[FrameCandidate]] = {}
    for candidate in candidates:
        if not (math.isfinite(candidate.score) and 0.0 <= candidate.score <= 1.0):
            raise SelectionError(f"candidate {candidate} has score {candidate.score}; scores must lie in [0, 1]")
        if candidate.frame < 0 or not 0 <= candidate.phash < 2**64:
            raise SelectionError(f"candidate {candidate} has a negative frame or a phash outside 64 bits")
        by_frame.setdefault((candidate.clip_id, candidate.frame), []).append(candidate)
    frames = []
    for (clip_id, frame), group in by_frame.items():
        if len({(c.video_id, c.phash) for c in group}) > 1:
            raise SelectionError(f"candidates of clip {clip_id} frame {frame} disagree on its video or phash")
        ranked = sorted(group, key=lambda c: (-c.score * yields.get(c.trigger, 1.0), c.trigger))
        best = ranked[0]
        frames.append(
            ChosenFrame(
                clip_id,
                best.video_id,
                frame,
                best.phash,
                best.trigger,
                best.score * yields.get(best.trigger, 1.0),
                tuple(Reason(c.trigger, c.score, c.hit) for c in ranked),
            )
        )
    return frames


def _quota_frames(triggers: Sequence[str], shares: Mapping[str, float], budget: int) -> dict[str, int]:
    """Frames each trigger may take first: its share of the budget, or an equal part of what the shares leave."""
    unassigned = [trigger for trigger in triggers if trigger not in shares]
    rest = max(0.0, 1.0 - sum(shares.values())) / len(unassigned) if unassigned else 0.0
    return {trigger: math.floor(shares.get(trigger, rest) * budget + 1e-9) for trigger in triggers}


def _diversity_order(frames: Sequence[ChosenFrame], keys: Sequence[float] | np.ndarray) -> list[int]:
    """Indices of `frames` round-robin across videos, then across a video's clips, then by `keys` (lowest first)
    inside a clip."""
    if not frames:
        return []
    video = np.array([frame.video_id for frame in frames])
    clip = np.array([frame.clip_id for frame in frames])
    key = np.asarray(keys, dtype=np.float64)
    number = np.array([frame.frame for frame in frames])
    order = np.lexsort((number, key, clip))
    clip_round = np.empty(len(frames), dtype=np.int64)
    clip_round[order] = _run_ranks(clip[order])[0]
    order = order[np.lexsort((number[order], clip[order], key[order], clip_round[order], video[order]))]
    video_round = _run_ranks(video[order])[0]
    order = order[np.lexsort((number[order], clip[order], video[order], key[order], video_round))]
    return order.tolist()


def _run_ranks(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's position in its run of equal neighbours and that run's length: on values sorted by group,
    each one's rank in its group and the group's size."""
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    lengths = np.diff(np.append(starts, len(keys)))
    return np.arange(len(keys)) - np.repeat(starts, lengths), np.repeat(lengths, lengths)


def _spread_keys(rank: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Bit-reversal (van der Corput) order of each frame's position in its clip: 0, 1/2, 1/4, 3/4, 1/8, ..."""
    bits = np.maximum(1, np.ceil(np.log2(np.maximum(size, 2))).astype(np.int64))
    keys = np.zeros(len(rank), dtype=np.float64)
    value = rank.astype(np.int64).copy()
    for bit in range(int(bits.max()) if len(bits) else 0):
        keys += ((value >> bit) & 1) * 0.5 ** (bit + 1)
    return keys


class _Picker:
    """Greedy acceptance: budget, per-clip cap and phash distance to everything selected or existing."""

    def __init__(
        self,
        frames: Sequence[ChosenFrame],
        budget: int,
        existing: np.ndarray | Sequence[int] | None,
        max_distance: int,
        max_per_clip: int | None,
    ) -> None:
        self.frames, self.budget, self.max_distance, self.max_per_clip = frames, budget, max_distance, max_per_clip
        self.existing = np.asarray(existing if existing is not None else [], dtype=np.uint64).reshape(-1)
        self.hashes = np.zeros(budget, dtype=np.uint64)
        self.chosen: list[int] = []
        self.seen: set[int] = set()
        self.per_clip: dict[str, int] = {}
        self.duplicates = self.capped = 0

    @property
    def full(self) -> bool:
        return len(self.chosen) >= self.budget

    def take(self, index: int) -> bool:
        """Select frame `index` unless it was considered already, its clip is full or it is a near-duplicate."""
        if self.full or index in self.seen:
            return False
        self.seen.add(index)
        frame = self.frames[index]
        if self.max_per_clip is not None and self.per_clip.get(frame.clip_id, 0) >= self.max_per_clip:
            self.capped += 1
            return False
        phash = np.uint64(frame.phash)
        if _near(self.hashes[: len(self.chosen)], phash, self.max_distance) or _near(
            self.existing, phash, self.max_distance
        ):
            self.duplicates += 1
            return False
        self.hashes[len(self.chosen)] = phash
        self.chosen.append(index)
        self.per_clip[frame.clip_id] = self.per_clip.get(frame.clip_id, 0) + 1
        return True

    def selection(self, quotas: dict[str, int]) -> FrameSelection:
        selected = tuple(self.frames[index] for index in self.chosen)
        return FrameSelection(selected, self.budget, len(self.frames), self.duplicates, self.capped, quotas)


def _near(hashes: np.ndarray, phash: np.uint64, max_distance: int) -> bool:
    """Whether any of `hashes` is within `max_distance` bits of `phash` (vectorised popcount)."""
    return bool(len(hashes)) and int(np.bitwise_count(hashes ^ phash).min()) <= max_distance
