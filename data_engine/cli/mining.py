"""Mining: `mine` (features, trigger hits, the selection under the daily budget)."""

from __future__ import annotations

import click

from data_engine.cli.bars import ProgressBars
from data_engine.cli.output import pass_runtime
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
