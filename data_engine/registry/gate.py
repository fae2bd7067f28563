"""The promotion gate: a challenger replaces the champion only if it is better overall by at least `min_gain`
(mAP50-95) and no class or slice gets worse by more than `max_drop`. Classes or slices that only one of the two
evaluations has are not gated on; the decision notes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from data_engine.evaluation import Evaluation

PRIMARY_METRIC = "map50_95"


@dataclass(frozen=True)
class GatePolicy:
    """Gate thresholds (in mAP50-95 points, 0..1) and how many non-champion models keep their weights."""

    min_gain: float = 0.0
    max_drop: float = 0.05
    keep_best: int = 10

    def __post_init__(self) -> None:
        if self.min_gain < 0 or self.max_drop < 0 or self.keep_best < 1:
            raise ValueError(
                f"gate policy needs min_gain >= 0, max_drop >= 0 and keep_best >= 1; got {self.min_gain}, "
                f"{self.max_drop}, {self.keep_best}"
            )


@dataclass(frozen=True)
class GateDecision:
    """Whether the challenger passed; `reasons` say why not, `notes` what was not compared."""

    passed: bool
    reasons: tuple[str, ...]
    notes: tuple[str, ...]
    gain: float | None
    champion_id: str | None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "gain": self.gain,
            "champion_id": self.champion_id,
        }


def gate(
    challenger: Evaluation, champion: Evaluation | None, policy: GatePolicy, champion_id: str | None = None
) -> GateDecision:
    """Decide on a challenger against the champion's evaluation (on the same test split when possible)."""
    if champion is None:
        return GateDecision(True, (), ("no champion yet: the first model becomes champion",), None, None)
    notes = []
    if champion.dataset_id != challenger.dataset_id:
        notes.append(
            f"compared across dataset versions ({champion.dataset_id} for the champion, {challenger.dataset_id})"
        )
    gain = challenger.map50_95 - champion.map50_95
    reasons = []
    if gain <= 0 or gain < policy.min_gain:
        reasons.append(
            f"mAP50-95 {challenger.map50_95:.4f} vs champion {champion.map50_95:.4f}: gain {gain:+.4f} does not "
            f"beat the champion by min_gain {policy.min_gain:.4f}"
        )
    for kind, ours, theirs in (
        ("class", challenger.per_class, champion.per_class),
        ("slice", challenger.per_slice, champion.per_slice),
    ):
        reasons.extend(_drops(kind, ours, theirs, policy.max_drop))
        only = sorted(set(ours) ^ set(theirs))
        if only:
            notes.append(f"{kind}(es) {only} evaluated for one model only: not gated on")
    return GateDecision(not reasons, tuple(reasons), tuple(notes), gain, champion_id)


def _drops(
    kind: str, ours: Mapping[str, Mapping[str, float]], theirs: Mapping[str, Mapping[str, float]], max_drop: float
) -> list[str]:
    reasons = []
    for name in sorted(set(ours) & set(theirs)):
        drop = theirs[name][PRIMARY_METRIC] - ours[name][PRIMARY_METRIC]
        if drop > max_drop:
            reasons.append(
                f"{kind} {name!r} mAP50-95 drops by {drop:.4f} ({theirs[name][PRIMARY_METRIC]:.4f} -> "
                f"{ours[name][PRIMARY_METRIC]:.4f}), more than max_drop {max_drop:.4f}"
            )
    return reasons
