"""What every command group prints with: rows as text or JSON, times, durations, evaluations, the actor.

Light on purpose (click and the runtime only): the listings import it and must start at once.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from data_engine.runtime import Runtime

if TYPE_CHECKING:
    from data_engine.evaluation import Evaluation

pass_runtime = click.make_pass_decorator(Runtime)


def duration_text(seconds: float) -> str:
    """A duration as a person reads it: `42.5 s`, `3 min 20 s`, `2 h 05 min`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def print_rows(rows: list[dict[str, Any]], as_json: bool, line: Callable[[dict[str, Any]], str]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            click.echo(line(row))


def utc_iso(moment: datetime) -> str:
    """An ISO 8601 time with its zone; SQLite hands back UTC times without one."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()


def actor() -> str:
    """Who did it, for the registry's events: the command line and the user running it."""
    return f"cli:{getpass.getuser()}"


def score(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def fail_on_failed_videos(failed: dict[str, str]) -> None:
    """Passing faults end the command with one error line and status 1; the videos wait for the next run."""
    if failed:
        click.echo(
            f"error: {len(failed)} video(s) failed on a passing fault (first: {next(iter(failed.values()))}); "
            "fix it and run again (failed videos are retried with backoff) or `data-engine retry --all-failed`",
            err=True,
        )
        sys.exit(1)


def print_evaluation(evaluation: Evaluation) -> None:
    """A model's test scores: overall, per class, per slice, and on the new-test images beside them."""
    click.echo(
        f"  test split of {evaluation.dataset_id} ({evaluation.images} images): mAP50 {evaluation.map50:.3f}, "
        f"mAP50-95 {evaluation.map50_95:.3f}, {evaluation.ms_per_image:.1f} ms/image on {evaluation.device}"
    )
    for name, metrics in sorted(evaluation.per_class.items()):
        click.echo(f"    class {name:<16} mAP50 {metrics['map50']:.3f}  mAP50-95 {metrics['map50_95']:.3f}")
    for name, metrics in sorted(evaluation.per_slice.items()):
        click.echo(
            f"    {evaluation.slice_by} {name:<15} mAP50 {metrics['map50']:.3f}  mAP50-95 {metrics['map50_95']:.3f}"
            f"  ({int(metrics['images'])} images)"
        )
    if evaluation.unknown_classes:
        click.echo(f"    classes the model does not know (left out): {', '.join(evaluation.unknown_classes)}")
    if evaluation.new_test:
        new = evaluation.new_test
        click.echo(
            f"  new-test images (test videos' frames reviewed after the split froze, {new['images']}): "
            f"mAP50 {new['map50']:.3f}, mAP50-95 {new['map50_95']:.3f}"
        )
