"""Annotation: `push` frames to annotators, `pull` reviews back, `import-annotations` of exported bundles, and
`annotation-stats`."""

from __future__ import annotations

import json
from dataclasses import replace

import click

from data_engine.annotation import review_metrics
from data_engine.annotation.history import review_history
from data_engine.cli.bars import ProgressBars
from data_engine.cli.output import pass_runtime
from data_engine.context import StageContext
from data_engine.evaluation.trigger_yield import trigger_yields
from data_engine.registry import detectors_in_use
from data_engine.runtime import Runtime
from data_engine.settings import ANNOTATION_BACKENDS, BUNDLE_ANSWER_FORMATS
from data_engine.stages.annotate import (
    import_answers,
    parse_duration,
    pull_reviews,
    push_again,
    push_ready,
    undo_import,
)


@click.command()
@click.option(
    "--backend",
    type=click.Choice(ANNOTATION_BACKENDS),
    default=None,
    help="Default: DATA_ENGINE_ANNOTATION_BACKEND, else labelstudio when DATA_ENGINE_LABEL_STUDIO_URL is set, else "
    "bundle.",
)
@click.option(
    "--answer-format",
    type=click.Choice(BUNDLE_ANSWER_FORMATS),
    default=None,
    help="Bundles: the format annotators answer in (default DATA_ENGINE_BUNDLE_ANSWER_FORMAT, labelstudio).",
)
@click.option(
    "--again",
    "again",
    default=None,
    metavar="RUN",
    help="Push the frames of annotation run RUN that were not reviewed yet again, as a new run, and close RUN (its "
    "tasks are broken or were deleted on the platform). A run whose project was deleted is pushed again by a plain "
    "push.",
)
@pass_runtime
def push(runtime: Runtime, backend: str | None, answer_format: str | None, again: str | None) -> None:
    """Send the selected frames of autolabelled clips (selected ones on a cold start) to annotators."""
    catalog, store, settings = runtime.catalog, runtime.store, runtime.settings
    if answer_format is not None:
        settings = replace(settings, bundle_answer_format=answer_format)
    with ProgressBars() as bars:
        if again is not None:
            report = push_again(StageContext(catalog, store, settings, progress=bars), again)
        else:
            detectors = detectors_in_use(catalog, store, settings)
            context = StageContext(catalog, store, settings, detectors=detectors, progress=bars)
            report = push_ready(context, annotation_backend=backend)
    for resumed in report.resumed:
        click.echo(f"finished push {resumed}, left unfinished by a process that stopped")
    for repaired in report.repaired:
        click.echo(f"re-created the missing files of push {repaired}")
    for closed in report.again:
        sent = f"its {closed.frames} unreviewed frames pushed again as run {closed.new_run_id}"
        click.echo(f"closed run {closed.run_id} ({closed.reason}): {sent if closed.new_run_id else 'all reviewed'}")
    if again is not None and not report.frames:
        click.echo(f"nothing to push again: every frame of run {again} was reviewed")
        return
    if not report.frames:
        click.echo("nothing to push (no autolabelled clips with selected frames that were not pushed yet)")
        return
    click.echo(
        f"pushed {report.frames} frames of {report.clips} clips to {report.annotation_backend} "
        f"({report.with_pre_annotations} with pre-annotations): {report.project_url}"
    )
    for page in report.report_pages:
        click.echo(f"the pushed frames with their boxes and reasons: {page}")


@click.command()
@click.option(
    "--since",
    default=None,
    metavar="DURATION",
    help="Also pull runs closed within DURATION (e.g. 12h, 7d), to bring back corrections made after they closed "
    "(default: DATA_ENGINE_CORRECTIONS_WINDOW_HOURS).",
)
@pass_runtime
def pull(runtime: Runtime, since: str | None) -> None:
    """Bring reviewed labels back from annotation platforms (Label Studio) as new label-file versions."""
    window = None if since is None else parse_duration(since)
    report = pull_reviews(runtime.catalog, runtime.store, runtime.settings, since=window)
    for lost, reason in report.lost.items():
        click.echo(f"run {lost} is lost ({reason}): the next `data-engine push` sends its frames again")
    if report.lost and not report.runs:
        return
    if not report.runs:
        click.echo("no open Label Studio runs (bundles come back with `data-engine import-annotations PATH`)")
        return
    click.echo(
        f"pulled {report.frames_reviewed} reviewed frames from {len(report.runs)} runs: "
        f"{report.label_versions_written} label versions written, {report.clips_annotated} clips annotated, "
        f"{report.boxes_rejected} boxes rejected, {report.frames_rejected} frames rejected, {report.pending} frames "
        f"still waiting, {report.missing} tasks gone from the platform"
    )
    if report.undone:
        click.echo(
            f"left out the answers of {report.undone} run(s) whose import was undone; correct them on the platform "
            "(or import an export of them with `data-engine import-annotations FILE`)"
        )
    for broken, gone in report.missing_by_run.items():
        click.echo(
            f"run {broken}: {gone} tasks gone from the platform; `data-engine push --again {broken}` sends them again"
        )


@click.command("import-annotations")
@click.argument("path", type=click.Path(exists=True), required=False)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(BUNDLE_ANSWER_FORMATS),
    default=None,
    help="Read this format's file of the bundle instead of its answer format (or read PATH as this format).",
)
@click.option("--dry-run", is_flag=True, help="Print what would change and write nothing.")
@click.option("--undo", "undo", default=None, metavar="IMPORT_ID", help="Undo an earlier import.")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def import_annotations(
    runtime: Runtime, path: str | None, file_format: str | None, dry_run: bool, undo: str | None, as_json: bool
) -> None:
    """Import the answers of an exported bundle: its answer file (a folder, its zip, or the file itself). Only
    frames a person answered are imported; a frame whose every box is refused stays unreviewed."""
    if undo is not None:
        if path is not None or dry_run or file_format is not None:
            raise click.UsageError("--undo takes no PATH, --format or --dry-run")
        undone = undo_import(runtime.catalog, runtime.store, undo)
        click.echo(
            f"undid import {undone.import_id}: {len(undone.clips_restored)} clips restored to their earlier labels, "
            f"{len(undone.clips_reopened)} clips back to pushed"
        )
        return
    if path is None:
        raise click.UsageError("give the PATH of a bundle or answer file (or --undo IMPORT_ID)")
    outcome = import_answers(runtime.catalog, runtime.store, path, file_format=file_format, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(outcome.to_json(), indent=2))
        return
    result, report = outcome.result, outcome.report
    click.echo(
        f"{result.source} ({result.format}, run {outcome.run_id}): {len(result.frames)} frames answered, "
        f"{len(result.pending)} not answered, {report.frames_rejected} rejected"
    )
    for rejection in result.rejected:
        where = f"clip {rejection.clip_id} frame {rejection.frame}" if rejection.clip_id else "file"
        what = rejection.label or ("box" if rejection.box else "frame")
        click.echo(f"  rejected {what} in {where}: {rejection.reason}")
    for change in outcome.changes:
        if change.added or change.changed or change.removed:
            empty = ", becomes empty" if change.becomes_empty else ""
            click.echo(
                f"  clip {change.clip_id} frame {change.frame}: +{change.added} ~{change.changed} -{change.removed} "
                f"boxes ({change.boxes_before} -> {change.boxes_after}){empty}"
            )
    emptied = sum(change.becomes_empty for change in outcome.changes)
    if dry_run:
        click.echo(
            f"dry run: {len(result.frames)} frames would be reviewed, {emptied} would become empty; nothing written"
        )
    elif report.already_imported:
        click.echo(f"already imported as {report.imports[0]}: nothing new")
    elif report.imports:
        click.echo(
            f"import {report.imports[0]}: {report.label_versions_written} label versions written, "
            f"{report.clips_annotated} clips annotated, {emptied} frames became empty "
            f"(undo: data-engine import-annotations --undo {report.imports[0]})"
        )
    else:
        click.echo("nothing imported: no frame of the file carries an answer")


@click.command("annotation-stats")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def annotation_stats(runtime: Runtime, as_json: bool) -> None:
    """Images reviewed per annotator and day, lead time, how much humans changed the autolabels per trigger, and
    each trigger's yield and lift over frames chosen without a trigger."""
    metrics = review_metrics(review_history(runtime.catalog, runtime.store))
    lift = trigger_yields(metrics)
    if as_json:
        click.echo(json.dumps({**metrics.to_json(), "trigger_yield": lift.to_json()}, indent=2))
    else:
        click.echo(metrics.markdown() + "\n\n" + lift.markdown())
