"""Datasets and training: `dataset build` a version from the reviewed labels, `train` a challenger and gate it."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from data_engine.cli.bars import ProgressBars, progress_bar
from data_engine.cli.output import pass_runtime, print_evaluation
from data_engine.datasets import DatasetConfig, DatasetVersion
from data_engine.registry import registry_for
from data_engine.runtime import Runtime
from data_engine.stages.train import build_training_dataset, train_candidate


@click.group()
def dataset() -> None:
    """Versioned training datasets built from reviewed labels."""


@dataset.command("build")
@click.option("--coco", is_flag=True, help="Also export COCO annotations.")
@pass_runtime
def dataset_build(runtime: Runtime, coco: bool) -> None:
    """Build a dataset version (split by video, frozen test split, leakage check) from the reviewed labels."""
    with ProgressBars() as bars:
        built = build_training_dataset(runtime.catalog, runtime.store, DatasetConfig(coco=coco), progress=bars)
    click.echo(_dataset_line(built))
    for rejected in built.report.rejected:
        click.echo(f"  left out clip {rejected.clip_id} (label v{rejected.label_version}): {rejected.reason}")
    if built.report.classes_missing_from_test:
        click.echo(f"  classes absent from test: {', '.join(built.report.classes_missing_from_test)}")
    _print_warnings(built)
    click.echo(f"YOLO data: {built.data_yaml}")


@click.command()
@pass_runtime
def train(runtime: Runtime) -> None:
    """Build the dataset, train a challenger (fine-tuning the champion), evaluate it and run the promotion gate."""
    settings = runtime.settings
    built = build_training_dataset(runtime.catalog, runtime.store)
    _print_dataset(built)
    registry = registry_for(runtime.catalog, runtime.store, settings)
    champion = registry.champion()
    start = f"fine-tuning champion {champion.id}" if champion else f"from {settings.train_model}"
    run_id = f"train-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    click.echo(
        f"training run {run_id}: {start}, {settings.train_epochs} epochs at {settings.train_imgsz} px, within "
        f"{settings.train_budget_hours:g} h (DATA_ENGINE_TRAIN_BUDGET_HOURS)"
    )
    with progress_bar(settings.train_epochs, "training", "epoch") as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        candidate = train_candidate(runtime.catalog, runtime.store, settings, built, run_id, progress=advance)
    result = candidate.training
    click.echo(
        f"training {result.status}: {result.epochs_completed} epochs on {result.device} in "
        f"{result.duration_s:.0f} s, estimated cost {result.estimated_cost:.2f}"
    )
    click.echo(f"model {candidate.model.id}")
    if candidate.evaluation is not None:
        print_evaluation(candidate.evaluation)
    click.echo(f"gate: {candidate.decision.verdict}")
    for note in candidate.decision.notes:
        click.echo(f"  note: {note}")


def _print_dataset(built: DatasetVersion) -> None:
    click.echo(_dataset_line(built))
    _print_warnings(built)


def _dataset_line(built: DatasetVersion) -> str:
    """`dataset ID (new): train N images (G groups), ...`, the same words in `dataset build` and `train`."""
    state = "new" if built.created else "no new reviewed labels since"
    splits = ", ".join(
        f"{split} {numbers['images']} images ({numbers['groups']} group{'s' * (numbers['groups'] != 1)})"
        for split, numbers in built.manifest.counts().items()
    )
    return f"dataset {built.dataset_id} ({state}): {splits}"


def _print_warnings(built: DatasetVersion) -> None:
    for warning in built.report.warnings:
        click.echo(f"  warning: {warning}", err=True)
