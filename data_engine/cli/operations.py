"""Operations: `run` (the main job), `retry` of failed work, and `doctor`."""

from __future__ import annotations

import sys
import time

import click

from data_engine.annotation.backends import answers_hint
from data_engine.cli.bars import ProgressBars
from data_engine.cli.output import duration_text, fail_on_failed_videos, pass_runtime
from data_engine.doctor import diagnose
from data_engine.errors import NotFoundError
from data_engine.runtime import Runtime
from data_engine.stages.main_job import run_main_job
from data_engine.stages.retry import retry as retry_stage


@click.command()
@click.argument("paths", nargs=-1)
@pass_runtime
def run(runtime: Runtime, paths: tuple[str, ...]) -> None:
    """The main job: ingest the inbox (and PATHS), clip, mine, select, autolabel; re-runnable, does only what is new."""
    started = time.monotonic()
    with ProgressBars() as bars:
        summary = run_main_job(runtime, paths, progress=bars)
    took = time.monotonic() - started
    counts = runtime.catalog.status_counts()
    footage = sum(video.duration_s or 0 for video in runtime.catalog.videos(status="clipped"))
    triggers = ", ".join(f"{name} {n}" for name, n in sorted(summary.hits_per_trigger.items())) or "none new"
    batches = len(summary.new_batches)
    click.echo("")
    click.echo(
        f"this run ({duration_text(took)}): {summary.videos_ingested} videos clipped in {batches} new "
        f"batch{'' if batches == 1 else 'es'}, {len(summary.quarantined)} quarantined, {len(summary.failed)} failed; "
        f"trigger hits: {triggers}; frames selected: {summary.frames_selected}; clips autolabelled: "
        f"{summary.clips_autolabelled}"
    )
    if summary.tasks_pushed:
        click.echo(f"tasks pushed: {summary.tasks_pushed} frames to {summary.pushed_to}")
        for page in summary.report_pages:
            click.echo(f"the pushed frames with their boxes and reasons: {page}")
    else:
        click.echo("tasks pushed: none new")
    if summary.frames_reviewed:
        click.echo(f"reviewed frames pulled: {summary.frames_reviewed}")
    clips = ", ".join(f"{state} {n}" for state, n in counts["clips"].items() if n) or "none"
    click.echo(
        f"in total: {counts['videos']['clipped']} videos clipped ({duration_text(footage)} of video), "
        f"{counts['videos']['quarantined']} quarantined, {counts['videos']['failed']} failed; clips: {clips}"
    )
    click.echo(f"model in use: {summary.model_in_use}")
    for source, reason in summary.quarantined.items():
        click.echo(f"quarantined {source}: {reason}")
    for source, reason in summary.failed.items():
        click.echo(f"failed {source}: {reason}")
    for note in summary.notes:
        click.echo(f"note: {note}")

    click.echo(
        f"next: {answers_hint(runtime.settings)}, "
        "`data-engine selection` lists the chosen frames, `data-engine clip show ID` a clip's journey, "
        "`make ui` opens the Dagster UI"
    )
    fail_on_failed_videos(summary.failed)


@click.command()
@click.option("--video", "video_ids", multiple=True, help="Re-queue this failed or quarantined video (repeatable).")
@click.option("--clip", "clip_ids", multiple=True, help="Put this failed clip back where it failed (repeatable).")
@click.option("--all-failed", is_flag=True, help="Re-queue every failed video and clip.")
@pass_runtime
def retry(runtime: Runtime, video_ids: tuple[str, ...], clip_ids: tuple[str, ...], all_failed: bool) -> None:
    """Re-queue failed work by hand, without waiting for its backoff; the next `run` or `ingest` does it."""
    if not (video_ids or clip_ids or all_failed):
        raise click.UsageError("say what to retry: --video ID, --clip ID or --all-failed")

    done = retry_stage(runtime.catalog, video_ids, clip_ids, all_failed=all_failed)
    videos, clips = done.videos, done.clips
    unknown = [name for name in video_ids if name not in videos] + [name for name in clip_ids if name not in clips]
    if unknown:
        raise NotFoundError(
            f"nothing to retry for {', '.join(unknown)}: not a failed or quarantined video, nor a failed clip "
            "(see `data-engine videos --status failed` and `data-engine clips --status failed`)"
        )
    click.echo(
        f"re-queued {len(videos)} video(s) and {len(clips)} clip(s); the next `data-engine run` or `ingest` takes them"
    )


@click.command()
@pass_runtime
def doctor(runtime: Runtime) -> None:
    """Check the decoder, catalog, store, detector weights, annotation platform and free disk."""
    findings = diagnose(runtime.settings)
    for finding in findings:
        click.echo(f"{'ok  ' if finding.ok else 'FAIL'}  {finding.check:<22} {finding.message}")
    failures = [finding for finding in findings if not finding.ok]
    if failures:
        click.echo(f"{len(failures)} problem(s) found", err=True)
        sys.exit(1)
