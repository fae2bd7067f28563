"""The promotion gate: a challenger must reach the quality floor (`min_map50` on the frozen test split), and when
there is a champion, be better overall by at least `min_gain` (mAP50-95) with no class or slice worse by more
than `max_drop`.

Both models are measured on the same test images. When they know different classes (a class was added after the
champion was trained), they are compared on the classes both know: overall and per slice as the mean over those
classes (which is how mAP is averaged), and the challenger's other classes are reported apart, not gated on."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from data_engine.evaluation import Evaluation

PRIMARY_METRIC = "map50_95"


@dataclass(frozen=True)
class GatePolicy:
    """Gate thresholds (mAP points, 0..1): `min_map50` is the quality floor every model must reach on the test
    split (a first model leaves cold start only above it); `keep_best` is how many models that a rollback cannot
    reach keep their weights."""

    min_gain: float = 0.0
    max_drop: float = 0.05
    keep_best: int = 10
    min_map50: float = 0.0

    def __post_init__(self) -> None:
        if self.min_gain < 0 or self.max_drop < 0 or self.keep_best < 1 or not 0 <= self.min_map50 <= 1:
            raise ValueError(
                "gate policy needs min_gain >= 0, max_drop >= 0, keep_best >= 1 and min_map50 in [0, 1]; got "
                f"{self.min_gain}, {self.max_drop}, {self.keep_best}, {self.min_map50}"
            )


@dataclass(frozen=True)
class GateDecision:
    """Whether the challenger passed; `reasons` say why not, `notes` what was not compared (and why)."""

    passed: bool
    reasons: tuple[str, ...]
    notes: tuple[str, ...]
    gain: float | None
    champion_id: str | None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @property
    def verdict(self) -> str:
        """One line for a person: what the gate did and why."""
        if not self.passed:
            return f"rejected: {self.reason}"
        if self.gain is None:
            return "promoted to champion (first model above the quality floor)"
        over = f"champion {self.champion_id}" if self.champion_id else "the champion"
        return f"promoted to champion (mAP50-95 {self.gain:+.4f} over {over})"

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "gain": self.gain,
            "champion_id": self.champion_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateDecision:
        return cls(
            bool(data["passed"]),
            tuple(data.get("reasons", ())),
            tuple(data.get("notes", ())),
            data.get("gain"),
            data.get("champion_id"),
        )


def gate(
    challenger: Evaluation, champion: Evaluation | None, policy: GatePolicy, champion_id: str | None = None
) -> GateDecision:
    """Decide on a challenger against the champion's evaluation on the same test split (None: no champion)."""
    reasons, notes = [], []
    if challenger.map50 < policy.min_map50:
        reasons.append(
            f"mAP50 {challenger.map50:.4f} on the test split of {challenger.dataset_id} is below the quality floor "
            f"min_map50 {policy.min_map50:.4f}"
        )
    if champion is None:
        notes.append("no champion yet: the first model above the quality floor becomes champion")
        return GateDecision(not reasons, tuple(reasons), tuple(notes), None, None)
    if champion.dataset_id != challenger.dataset_id:
        notes.append(
            f"compared across dataset versions ({champion.dataset_id} for the champion, {challenger.dataset_id})"
        )
    shared = sorted(set(challenger.per_class) & set(champion.per_class))
    same_classes = set(challenger.per_class) == set(champion.per_class)
    for name in sorted(set(challenger.per_class) - set(champion.per_class)):
        value = challenger.per_class[name][PRIMARY_METRIC]
        notes.append(f"new class {name!r} (the champion does not know it): mAP50-95 {value:.4f}, not gated on")
    for name in sorted(set(champion.per_class) - set(challenger.per_class)):
        notes.append(f"class {name!r} is measured for the champion only: not gated on")
    if same_classes:
        ours, theirs, basis = challenger.map50_95, champion.map50_95, "mAP50-95"
    else:
        ours, theirs = _mean(challenger.per_class, shared), _mean(champion.per_class, shared)
        basis = f"mAP50-95 on the classes both know ({', '.join(shared) or 'none'})"
    gain = ours - theirs
    if gain <= 0 or gain < policy.min_gain:
        reasons.append(
            f"{basis} {ours:.4f} vs champion {theirs:.4f}: gain {gain:+.4f} does not beat the champion by min_gain "
            f"{policy.min_gain:.4f}"
        )
    reasons.extend(_drops("class", challenger.per_class, champion.per_class, policy.max_drop))
    ours_slices = challenger.per_slice if same_classes else _slice_means(challenger, shared)
    theirs_slices = champion.per_slice if same_classes else _slice_means(champion, shared)
    reasons.extend(_drops("slice", ours_slices, theirs_slices, policy.max_drop))
    only = sorted(set(challenger.per_slice) ^ set(champion.per_slice))
    if only:
        notes.append(f"slice(s) {only} evaluated for one model only: not gated on")
    return GateDecision(not reasons, tuple(reasons), tuple(notes), gain, champion_id)


def _mean(per_class: Mapping[str, Mapping[str, float]], names: Collection[str]) -> float:
    return fmean(per_class[name][PRIMARY_METRIC] for name in names) if names else 0.0


def _slice_means(evaluation: Evaluation, shared: Collection[str]) -> dict[str, dict[str, float]]:
    """Each slice's mAP50-95 over the shared classes with boxes in it (slices without such boxes left out)."""
    means = {}
    for name, per_class in evaluation.per_slice_class.items():
        present = [cls for cls in shared if cls in per_class]
        if present:
            means[name] = {PRIMARY_METRIC: _mean(per_class, present)}
    return means


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
