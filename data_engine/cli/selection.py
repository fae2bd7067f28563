"""`selection`: the chosen frames as a listing or as HTML pages. Its own module, so that `mine` starts without
the pages' imports (OpenCV, PIL, the dataset builder)."""

from __future__ import annotations

import click

from data_engine.cli.listings import clip_first_frames
from data_engine.cli.output import pass_runtime, print_rows
from data_engine.reports.html import reports_index
from data_engine.runtime import Runtime


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
