"""Trigger yield and lift: is a trigger worth its share of the labelling budget?

A trigger's yield is the share of the frames it selected where the reviewed labels differ from the model's
(`ReviewMetrics.per_trigger`: boxes added, deleted, moved or relabelled). Its lift is that yield over the yield of
frames chosen without any trigger: a lift of 3 means a frame this trigger picks needs a human's correction three
times as often as a frame picked blindly. The blind baseline is, in the product, the diversity sample that tops up
every selection (frames spread over the clips, no trigger involved); in the proving ground, the random strategy's
frames, which are drawn uniformly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from data_engine.annotation.metrics import NO_TRIGGER, ChangeSummary, ReviewMetrics
from data_engine.mining.selection import DIVERSITY_TRIGGER

BLIND_REASONS = (DIVERSITY_TRIGGER, NO_TRIGGER)
"""Reasons that mean "chosen without a trigger": the frames the baseline yield is measured on."""


@dataclass(frozen=True, slots=True)
class TriggerYield:
    trigger: str
    frames: int
    changed_frames: int
    yield_rate: float
    lift: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "frames": self.frames,
            "changed_frames": self.changed_frames,
            "yield": round(self.yield_rate, 4),
            "lift": None if self.lift is None else round(self.lift, 3),
        }


@dataclass(frozen=True)
class YieldReport:
    """Yield and lift per trigger; `baseline` is the blind yield (None when no frame was chosen blindly) measured
    on `baseline_frames` frames, described by `baseline_source`."""

    triggers: tuple[TriggerYield, ...]
    baseline: float | None
    baseline_frames: int
    baseline_source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": {
                "yield": None if self.baseline is None else round(self.baseline, 4),
                "frames": self.baseline_frames,
                "source": self.baseline_source,
            },
            "triggers": [row.to_json() for row in self.triggers],
        }

    def markdown(self) -> str:
        baseline = "none" if self.baseline is None else f"{self.baseline:.2f}"
        lines = [
            f"trigger yield: share of selected frames whose reviewed labels differ from the model's; lift: yield over "
            f"the blind yield {baseline} ({self.baseline_source}, {self.baseline_frames} frames)",
            "",
            "| trigger | frames | changed | yield | lift |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in self.triggers:
            lift = "-" if row.lift is None else f"{row.lift:.2f}"
            lines.append(f"| {row.trigger} | {row.frames} | {row.changed_frames} | {row.yield_rate:.2f} | {lift} |")
        return "\n".join(lines)


def trigger_yields(
    metrics: ReviewMetrics, baseline: ChangeSummary | None = None, baseline_source: str | None = None
) -> YieldReport:
    """Yield and lift of every trigger in `metrics`. Without `baseline`, the blind frames of `metrics` itself
    (diversity sample, frames selected without a reason) are the baseline."""
    if baseline is None:
        baseline = ChangeSummary()
        for name in BLIND_REASONS:
            summary = metrics.per_trigger.get(name)
            if summary is not None:
                _pool(baseline, summary)
        baseline_source = baseline_source or "frames chosen by no trigger (the diversity sample)"
    blind = baseline.yield_rate if baseline.frames and baseline.changed_frames else None
    rows = tuple(
        TriggerYield(
            trigger=name,
            frames=summary.frames,
            changed_frames=summary.changed_frames,
            yield_rate=summary.yield_rate,
            lift=None if blind is None else summary.yield_rate / blind,
        )
        for name, summary in sorted(metrics.per_trigger.items())
        if name not in BLIND_REASONS
    )
    return YieldReport(rows, blind, baseline.frames, baseline_source or "given baseline")


def _pool(total: ChangeSummary, part: ChangeSummary) -> None:
    total.frames += part.frames
    total.changed_frames += part.changed_frames
