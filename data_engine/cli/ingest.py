"""`ingest`: register and clip video files now, and the batch reports it prints (`run` prints them too)."""

from __future__ import annotations

import json
from typing import Any

import click

from data_engine.cli.bars import ProgressBars
from data_engine.cli.output import fail_on_failed_videos, pass_runtime
from data_engine.runtime import Runtime
from data_engine.stages import ingest as ingest_stage
from data_engine.stages.ingest import BatchReport


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the batch reports as JSON.")
@pass_runtime
def ingest(runtime: Runtime, paths: tuple[str, ...], as_json: bool) -> None:
    """Register and clip the given video files or folders now (the same code the inbox sensor runs)."""
    with ProgressBars() as bars:
        report = ingest_stage.ingest(
            runtime.catalog, runtime.store, runtime.settings, paths, watch_inbox=False, progress=bars
        )
    for uri in report.look.unsettled:
        click.echo(f"skipped (still being written, try again in a moment): {uri}", err=True)
    for uri, reason in report.look.skipped:
        click.echo(f"skipped {uri}: {reason}", err=True)
    for uri, digest in report.look.duplicates:
        click.echo(f"already ingested (same content as video {digest[:12]}): {uri}", err=True)
    if as_json:
        click.echo(json.dumps([_report_document(batch) for batch in report.batches], indent=2))
    else:
        _print_reports(report.batches)
    for line in ingest_stage.failures_waiting(runtime.catalog):
        click.echo(f"note: {line}", err=True)
    fail_on_failed_videos({", ".join(v.sources): v.error or "" for batch in report.batches for v in batch.failed})


def _report_document(report: BatchReport) -> dict[str, Any]:
    return {
        "batch": report.batch_key,
        **report.summary(),
        "quarantined_files": {", ".join(v.sources): v.error for v in report.quarantined},
        "failed_files": {", ".join(v.sources): v.error for v in report.failed},
    }


def _print_reports(reports: list[BatchReport]) -> None:
    if not reports:
        click.echo("nothing new to ingest")
    for report in reports:
        summary = report.summary()
        click.echo(
            f"batch {report.batch_key}: {summary['clipped']} videos clipped into {summary['clips']} clips "
            f"({summary['new_clips']} new, {summary['hours'] * 3600:.1f} s of video), "
            f"{summary['quarantined']} quarantined" + (f", {summary['failed']} failed" if summary["failed"] else "")
        )
        for video in report.quarantined:
            click.echo(f"  quarantined {', '.join(video.sources)}: {video.error}")
        for video in report.failed:
            click.echo(f"  failed {', '.join(video.sources)}: {video.error}")
