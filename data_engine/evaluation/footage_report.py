"""What `data-engine evaluate` prints: per sequence (and pooled over several) the detection, tracking, selection
and trigger tables, as text for a person and as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from data_engine.attributes import attributes
from data_engine.evaluation.scoring import DetectionScores, TrackingScores
from data_engine.evaluation.selection_lift import RANDOM_DRAWS, Pick, SelectionFigures, TriggerLift


@dataclass(frozen=True)
class FootageReport:
    """The figures of one sequence, or of several pooled. `detection` per label source ("raw MODEL", "hindsight",
    "bytetrack", "predictions"), `tracking` per tracked source; `errors_source`: the labels whose per-frame errors
    the selection and triggers are judged by; `selection` None without those labels."""

    source: str
    ground_truth: str
    frames: int
    gt_boxes: int
    evaluated_class: str
    detection: dict[str, DetectionScores]
    tracking: dict[str, TrackingScores]
    errors_source: str
    selection: SelectionFigures | None
    triggers: tuple[TriggerLift, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            **attributes(self, "source", "ground_truth", "frames", "gt_boxes", "evaluated_class"),
            "detection": {name: scores.to_json() for name, scores in self.detection.items()},
            "tracking": {name: scores.to_json() for name, scores in self.tracking.items()},
            "errors_source": self.errors_source,
            "selection": None if self.selection is None else self.selection.to_json(),
            "triggers": [row.to_json() for row in self.triggers],
            "notes": list(self.notes),
        }

    def lines(self) -> list[str]:
        """The report as a person reads it: four small tables and the notes."""
        out = [
            f"{self.source}: {self.frames} frames, {self.gt_boxes} ground-truth boxes ({self.ground_truth}), "
            f"evaluated: {self.evaluated_class}",
            "",
            "| labels | precision | recall | F1 | AP50 | TP | FP | FN |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, scores in self.detection.items():
            ap, counts = "n/a" if scores.ap50 is None else f"{scores.ap50:.3f}", scores.counts
            out.append(
                f"| {name} | {counts.precision:.3f} | {counts.recall:.3f} | {counts.f1:.3f} | {ap} | "
                f"{counts.true_positives} | {counts.false_positives} | {counts.false_negatives} |"
            )
        out += ["", "| tracks | HOTA | DetA | AssA | MOTA | MOTP | IDF1 | ID switches |", "| --- |" + " --- |" * 7]
        for name, track in self.tracking.items():
            out.append(
                f"| {name} | {track.hota:.3f} | {track.deta:.3f} | {track.assa:.3f} | {track.mota:.3f} | "
                f"{track.motp:.3f} | {track.idf1:.3f} | {track.id_switches} |"
            )
        if self.selection is not None:
            out += ["", *self._selection_lines(self.selection)]
        if self.selection is not None and self.selection.budgets and self.selection.budgets[0].engine is not None:
            out += [
                "",
                "| trigger | frames flagged | share | errors/frame | lift |",
                "| --- | --- | --- | --- | --- |",
                f"| (all frames) | {self.frames} | 1.000 | {self.selection.errors_per_frame:.2f} | "
                + ("1.00 |" if self.selection.errors else "n/a |"),
            ]
            for row in self.triggers:
                per_frame = f"{row.errors / row.frames:.2f}" if row.frames else "n/a"
                out.append(f"| {row.trigger} | {row.frames} | {row.share:.3f} | {per_frame} | {_lift(row.lift)} |")
        return out + [f"note: {note}" for note in self.notes]

    def _selection_lines(self, selection: SelectionFigures) -> list[str]:
        out = [
            f"selection lift: errors per chosen frame over errors per frame of all frames "
            f"({selection.errors_per_frame:.2f} = {selection.errors} errors of {self.errors_source} / "
            f"{selection.frames} frames); random: mean of {RANDOM_DRAWS} draws [95 % interval]",
            "",
            "| budget | frames | engine | random | uncertainty | oracle |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in selection.budgets:
            random = _lift(row.random.lift)
            if row.random.low is not None and row.random.high is not None:
                random += f" [{row.random.low:.2f}, {row.random.high:.2f}]"
            out.append(
                f"| {row.share:.0%} | {row.budget} | {_engine(row.engine)} | {random} | "
                f"{_lift(row.uncertainty.lift)} | {_lift(row.oracle.lift)} |"
            )
        return out


def _lift(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _engine(pick: Pick | None) -> str:
    if pick is None:
        return "n/a"
    return _lift(pick.lift) + (f" ({pick.frames} frames)" if pick.frames else " (no frame)")


@dataclass(frozen=True)
class EvaluationReport:
    """One report per sequence and, for several, the pooled figures (their per-frame counts summed)."""

    sequences: tuple[FootageReport, ...]
    pooled: FootageReport

    def to_json(self) -> dict[str, Any]:
        """One sequence: its report. Several: the pooled report's fields, and `sequences` with each one's."""
        if len(self.sequences) == 1:
            return self.sequences[0].to_json()
        return {**self.pooled.to_json(), "sequences": [report.to_json() for report in self.sequences]}

    def lines(self) -> list[str]:
        if len(self.sequences) == 1:
            return self.sequences[0].lines()
        sources = list(self.pooled.detection)
        tracked = list(self.pooled.tracking)
        header = ["sequence", "frames", "gt boxes", *(f"F1 {name}" for name in sources)]
        header += [f"HOTA {name}" for name in tracked] + ["engine lift 10%", "uncertainty lift 10%"]
        out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for report in (*self.sequences, self.pooled):
            cells = [report.source, str(report.frames), str(report.gt_boxes)]
            cells += [
                f"{report.detection[name].counts.f1:.3f}" if name in report.detection else "-" for name in sources
            ]
            cells += [f"{report.tracking[name].hota:.3f}" if name in report.tracking else "-" for name in tracked]
            at_ten = (
                next((row for row in report.selection.budgets if row.share == 0.10), None) if report.selection else None
            )
            cells += [_engine(at_ten.engine), _lift(at_ten.uncertainty.lift)] if at_ten else ["n/a", "n/a"]
            out.append("| " + " | ".join(cells) + " |")
        return [*out, "", *self.pooled.lines()]
