"""Mining: `mine` (features, trigger hits, the selection under the daily budget) and `selection`, the chosen
frames as a listing or as HTML pages."""

from __future__ import annotations

import click

from data_engine.cli.bars import ProgressBars
from data_engine.cli.listings import clip_first_frames
from data_engine.cli.output import pass_runtime, print_rows
from data_engine.registry import detectors_in_use
from data_engine.runtime import Runtime
from data_engine.stages import mine as mine_stage


@click.command()
@click.option(
    "--batch", "batch_key", default=None, help="Mine this ingest batch (default: every batch with new clips)."
)
@pass_runtime
def mine(runtime: Runtime, batch_key: str | None) -> None:
    """Frame features, trigger hits and the selection of frames for annotation under the daily budget."""
    settings, catalog, store = runtime.settings, runtime.catalog, runtime.store
    detectors = detectors_in_use(catalog, store, settings)
    if not detectors:
        click.echo("cold start: no detector configured, so image-level triggers and a diversity sample only", err=True)
    with ProgressBars() as bars:
        report = mine_stage.mine(catalog, store, settings, detectors, [batch_key] if batch_key else None, progress=bars)
    for batch in report.batches:
        features, hits, selection = batch.features, batch.hits, batch.selection
        triggers = ", ".join(f"{name} {count}" for name, count in sorted(hits.per_trigger.items())) or "none"
        click.echo(
            f"batch {batch.batch_key}: {features.clips} clips featured ({features.frames} frames), {hits.clips} mined, "
            f"hits: {triggers}; selected {selection.selected} frames in {selection.clips_selected} clips "
            f"({selection.duplicates_skipped} near-duplicates skipped, {selection.budget_left} of today's budget "
            f"was left)"
        )
        for clip_id, reason in features.failed.items():
            click.echo(f"  failed {clip_id}: {reason}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per selected frame.")
@click.option("--batch", "batch_key", default=None)
@click.option(
    "--report",
    is_flag=True,
    help="Write static HTML pages instead (each batch's selected frames with boxes, reasons and clip timelines; each "
    "dataset version's class counts and samples) and print their paths.",
)
@pass_runtime
def selection(runtime: Runtime, as_json: bool, batch_key: str | None, report: bool) -> None:
    """Frames selected for annotation and why, numbered within the clip and within its video."""
    if report:
        from data_engine.reports.html import reports_index  # pages only: `mine` (this module) starts without them

        index, *pages = reports_index(runtime.catalog, runtime.store, [batch_key] if batch_key else None)
        for page in pages:
            click.echo(f"{'batch' if page.parent.parent.name == 'batches' else 'dataset'} {page.parent.name}: {page}")
        click.echo(f"index: {index}")
        return
    first_frame = clip_first_frames(runtime, batch_key)
    rows = [
        {
            "clip_id": frame.clip_id,
            "clip_frame": frame.frame,
            "video_frame": first_frame[frame.clip_id] + frame.frame,
            "reasons": frame.reasons.get("reasons", []),
            "budget_day": frame.budget_day,
        }
        for frame in runtime.catalog.selected_frames(batch_key=batch_key)
    ]
    print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['clip_id']}  clip frame {r['clip_frame']:>5} (video {r['video_frame']:>6})  "
            + ", ".join(f"{reason['trigger']} {reason['score']:.2f}" for reason in r["reasons"])
        ),
    )
