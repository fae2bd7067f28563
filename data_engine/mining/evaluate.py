"""Precision and recall of the image-level triggers on the proving ground (synthetic videos with injected events).

A hit is correct when it overlaps an injected event of the type its trigger looks for; an event is found when a
hit of that trigger overlaps it. Triggers with no matching event type (cuts, glitches: the proving ground has
none) are scored by their false hits only: every hit of theirs is a false alarm there.

    .venv/bin/python -m data_engine.mining.evaluate --seeds 0 1 2 3 --seconds 20
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from data_engine.mining.features import compute_features
from data_engine.mining.triggers import Hit, registered_triggers, run_triggers
from data_engine.synthetic import generate

EVENT_TYPE_OF_TRIGGER: Mapping[str, str] = {"flicker": "flicker", "frozen": "static"}
"""The injected event type each trigger should find (static stretches re-encode to nearly identical frames)."""


class EventLike(Protocol):
    type: str
    first_frame: int
    last_frame: int


@dataclass(frozen=True, slots=True)
class TriggerEvaluation:
    """Counts of one trigger over one or more videos; `precision` / `recall` are NaN when undefined (0/0)."""

    trigger: str
    event_type: str | None
    hits: int
    correct_hits: int
    events: int
    found_events: int
    seconds: float

    @property
    def precision(self) -> float:
        return self.correct_hits / self.hits if self.hits else math.nan

    @property
    def recall(self) -> float:
        return self.found_events / self.events if self.events else math.nan

    @property
    def false_hits_per_minute(self) -> float:
        return 60.0 * (self.hits - self.correct_hits) / self.seconds if self.seconds else math.nan

    def __add__(self, other: TriggerEvaluation) -> TriggerEvaluation:
        return TriggerEvaluation(
            self.trigger,
            self.event_type,
            self.hits + other.hits,
            self.correct_hits + other.correct_hits,
            self.events + other.events,
            self.found_events + other.found_events,
            self.seconds + other.seconds,
        )


def evaluate_hits(
    hits: Sequence[Hit],
    events: Sequence[EventLike],
    seconds: float,
    triggers: Sequence[str] | None = None,
) -> dict[str, TriggerEvaluation]:
    """Score the hits of one video against its injected events, per trigger (default: all registered)."""
    scores = {}
    for trigger in registered_triggers() if triggers is None else triggers:
        event_type = EVENT_TYPE_OF_TRIGGER.get(trigger)
        own_hits = [hit for hit in hits if hit.trigger == trigger]
        targets = [event for event in events if event.type == event_type]
        scores[trigger] = TriggerEvaluation(
            trigger=trigger,
            event_type=event_type,
            hits=len(own_hits),
            correct_hits=sum(any(_overlaps(hit, event) for event in targets) for hit in own_hits),
            events=len(targets),
            found_events=sum(any(_overlaps(hit, event) for hit in own_hits) for event in targets),
            seconds=seconds,
        )
    return scores


def combine(evaluations: Iterable[Mapping[str, TriggerEvaluation]]) -> dict[str, TriggerEvaluation]:
    """Sum per-video evaluations into one per trigger."""
    total: dict[str, TriggerEvaluation] = {}
    for evaluation in evaluations:
        for trigger, score in evaluation.items():
            total[trigger] = total[trigger] + score if trigger in total else score
    return total


def evaluate_proving_ground(
    seeds: Sequence[int],
    out_dir: str | Path,
    seconds: float = 20.0,
    size: tuple[int, int] = (320, 240),
    configs: Mapping[str, object] | None = None,
) -> dict[str, TriggerEvaluation]:
    """Generate one proving-ground video per seed into `out_dir`, mine it, and score every registered trigger."""
    per_video = []
    for seed in seeds:
        video = generate(out_dir, seed, seconds=seconds, size=size)
        truth = video.truth()
        hits = run_triggers(compute_features(video.video_path), configs=configs)
        per_video.append(evaluate_hits(hits, truth.events, truth.frame_count / truth.fps))
    return combine(per_video)


def format_table(evaluations: Mapping[str, TriggerEvaluation]) -> str:
    """A Markdown table of the evaluations."""
    lines = [
        "| trigger | event type | hits | correct | events | found | precision | recall | false hits/min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for score in evaluations.values():
        lines.append(
            f"| {score.trigger} | {score.event_type or '-'} | {score.hits} | {score.correct_hits} | {score.events} | "
            f"{score.found_events} | {score.precision:.2f} | {score.recall:.2f} | {score.false_hits_per_minute:.2f} |"
        )
    return "\n".join(lines)


def _overlaps(hit: Hit, event: EventLike) -> bool:
    return hit.first_frame <= event.last_frame and event.first_frame <= hit.last_frame


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    parser.add_argument("--seconds", type=float, default=20.0)
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mining-evaluate-") as out_dir:
        print(format_table(evaluate_proving_ground(arguments.seeds, out_dir, seconds=arguments.seconds)))


if __name__ == "__main__":
    main()
