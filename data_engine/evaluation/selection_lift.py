"""Do the engine's triggers and selection find the frames where the model is wrong?

A frame's errors are the operating boxes' missed plus false boxes (IoU 0.5; the first model's raw boxes at the
operating threshold). A set of chosen frames is worth its errors per chosen frame over the errors per frame of all
frames: its lift (1 = no better than chance; None, "n/a", when no frame holds an error). For each budget (a share
of the frames) four ways of choosing are compared:

- engine: the mining stage's own selection, `candidates_from_hits` and `select_frames` on the triggers' hits with
  the mining defaults (quotas, near-duplicate distance); the sequence is one clip, so no per-clip cap applies, and
  no reviews exist, so every trigger weighs 1. Near-duplicates or too few hits can leave it under the budget.
- random: `RANDOM_DRAWS` seeded draws of the budget's frames without replacement; the mean lift and the 2.5 and
  97.5 percentiles of the draws' lifts (95 % interval).
- uncertainty: frames ranked by box uncertainty (`mining.frame_ranking.margin_uncertainty`: the sum over the
  frame's raw boxes of a margin uncertainty that peaks at the operating threshold), the expected count of boxes
  whose keep-or-drop decision is in doubt: what a user would rank by instead.
- oracle: frames ranked by their true error count, the most that any choice of that many frames can reach.

Per trigger: the share of the frames it flags (every frame of each hit's range) and the errors per flagged frame
over the errors per frame of all frames. Several sequences pool their counts: the chosen frames and their errors
are summed over the sequences (each sequence chooses its own budget's share), and so are a random draw's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_engine.mining.config import MiningConfig
from data_engine.mining.features import FrameFeatures
from data_engine.mining.selection import candidates_from_hits, select_frames
from data_engine.mining.triggers import Hit

BUDGETS = (0.05, 0.10, 0.20)
RANDOM_DRAWS = 200
SEED = 20


@dataclass(frozen=True)
class SequenceChoices:
    """One sequence's inputs: per-frame errors and uncertainty, the engine's chosen frames per budget share (None
    when the triggers could not run) and each trigger's flagged frames."""

    errors: np.ndarray
    uncertainty: np.ndarray
    engine: Mapping[float, np.ndarray] | None
    flagged: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Pick:
    """Frames chosen one way at one budget, their errors and lift; `low`/`high`: the random draws' 95 % interval."""

    frames: int
    errors: float
    lift: float | None
    low: float | None = None
    high: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"frames": self.frames, "errors": round(self.errors, 3), "lift": _round(self.lift)}


@dataclass(frozen=True)
class BudgetLift:
    share: float
    budget: int
    engine: Pick | None
    random: Pick
    uncertainty: Pick
    oracle: Pick

    def to_json(self) -> dict[str, Any]:
        return {
            "share": self.share,
            "budget": self.budget,
            "engine": None if self.engine is None else self.engine.to_json(),
            "random": self.random.to_json()
            | {"low": _round(self.random.low), "high": _round(self.random.high), "draws": RANDOM_DRAWS},
            "uncertainty": self.uncertainty.to_json(),
            "oracle": self.oracle.to_json(),
        }


@dataclass(frozen=True)
class TriggerLift:
    trigger: str
    frames: int
    share: float
    errors: int
    lift: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "frames": self.frames,
            "share": round(self.share, 4),
            "errors": self.errors,
            "lift": _round(self.lift),
        }


@dataclass(frozen=True)
class SelectionFigures:
    """All frames' errors and the lift of each way of choosing at each budget."""

    frames: int
    errors: int
    budgets: tuple[BudgetLift, ...]

    @property
    def errors_per_frame(self) -> float:
        return self.errors / self.frames if self.frames else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "errors": self.errors,
            "errors_per_frame": round(self.errors_per_frame, 4),
            "budgets": [row.to_json() for row in self.budgets],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def budget_frames(share: float, frames: int) -> int:
    """Frames a budget share buys in a sequence of `frames` (at least one)."""
    return max(1, round(share * frames)) if frames else 0


def engine_choice(hits: Sequence[Hit], features: FrameFeatures, budget: int) -> np.ndarray:
    """The frames the mining stage's selection takes from these hits under `budget` (its defaults; one clip)."""
    config = MiningConfig()
    candidates = candidates_from_hits(hits, features, "sequence", "sequence")
    selection = select_frames(
        candidates, budget, quotas=config.quotas, max_distance=config.duplicate_distance, max_per_clip=None
    )
    return np.array(sorted(frame.frame for frame in selection.frames), dtype=np.int64)


def flagged_frames(hits: Sequence[Hit], frames: int) -> dict[str, np.ndarray]:
    """Per trigger: a mask of the frames its hits cover."""
    flagged: dict[str, np.ndarray] = {}
    for hit in hits:
        mask = flagged.setdefault(hit.trigger, np.zeros(frames, dtype=bool))
        mask[max(0, hit.first_frame) : min(frames, hit.last_frame + 1)] = True
    return flagged


def _lift(errors: float, frames: int, base: float) -> float | None:
    return None if not base or not frames else (errors / frames) / base


def _ranked(scores: np.ndarray, budget: int) -> np.ndarray:
    return np.argsort(-scores, kind="stable")[:budget]


def selection_figures(sequences: Sequence[SequenceChoices]) -> SelectionFigures:
    """The selection's lift per budget, pooled over the sequences."""
    frames = sum(len(s.errors) for s in sequences)
    errors = int(sum(int(s.errors.sum()) for s in sequences))
    base = errors / frames if frames else 0.0
    rows = []
    for share in BUDGETS:
        budgets = [budget_frames(share, len(s.errors)) for s in sequences]
        picks: dict[str, Pick] = {}
        for name, order in (("uncertainty", lambda s: s.uncertainty), ("oracle", lambda s: s.errors)):
            chosen = [
                _ranked(np.asarray(order(s), dtype=np.float64), b) for s, b in zip(sequences, budgets, strict=True)
            ]
            picked = sum(len(c) for c in chosen)
            found = float(sum(int(s.errors[c].sum()) for s, c in zip(sequences, chosen, strict=True)))
            picks[name] = Pick(picked, found, _lift(found, picked, base))
        engine = None
        if all(s.engine is not None for s in sequences):
            chosen = [s.engine[share] for s in sequences if s.engine is not None]
            picked = sum(len(c) for c in chosen)
            found = float(sum(int(s.errors[c].sum()) for s, c in zip(sequences, chosen, strict=True)))
            engine = Pick(picked, found, _lift(found, picked, base))
        draws = np.zeros(RANDOM_DRAWS)
        for s, b in zip(sequences, budgets, strict=True):
            for draw in range(RANDOM_DRAWS):
                chosen_frames = np.random.default_rng([SEED, draw]).choice(len(s.errors), b, replace=False)
                draws[draw] += s.errors[chosen_frames].sum()
        picked = sum(budgets)
        lifts = [_lift(float(found), picked, base) for found in draws]
        random = Pick(picked, float(draws.mean()), _lift(float(draws.mean()), picked, base))
        if random.lift is not None:
            values = np.array([lift for lift in lifts if lift is not None])
            random = Pick(picked, random.errors, random.lift, *(float(v) for v in np.percentile(values, [2.5, 97.5])))
        rows.append(BudgetLift(share, picked, engine, random, picks["uncertainty"], picks["oracle"]))
    return SelectionFigures(frames, errors, tuple(rows))


def trigger_figures(sequences: Sequence[SequenceChoices]) -> tuple[TriggerLift, ...]:
    """Per trigger (of any sequence): frames flagged, their share, errors and lift, pooled over the sequences."""
    frames = sum(len(s.errors) for s in sequences)
    base = sum(int(s.errors.sum()) for s in sequences) / frames if frames else 0.0
    rows = []
    for trigger in sorted({name for s in sequences for name in s.flagged}):
        masks = [(s, s.flagged.get(trigger, np.zeros(len(s.errors), dtype=bool))) for s in sequences]
        flagged = sum(int(mask.sum()) for _, mask in masks)
        found = sum(int(s.errors[mask].sum()) for s, mask in masks)
        rows.append(
            TriggerLift(trigger, flagged, flagged / frames if frames else 0.0, found, _lift(found, flagged, base))
        )
    return tuple(rows)
