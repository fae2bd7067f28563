"""Autolabelling: `autolabel` clips with the detectors and hindsight, and `labels show` a clip's label file."""

from __future__ import annotations

import json

import click

from data_engine.autolabel import HindsightParams, read_latest_labels
from data_engine.cli.bars import ProgressBars
from data_engine.cli.output import pass_runtime
from data_engine.context import StageContext
from data_engine.errors import NotFoundError
from data_engine.registry import detectors_in_use
from data_engine.runtime import Runtime, compute_backend
from data_engine.settings import SettingsError
from data_engine.stages import autolabel as autolabel_stage
from data_engine.stages.autolabel import summarize_labels


@click.command()
@click.option("--clip", "clip_id", default=None, help="Label this clip (whatever its state).")
@click.option("--batch", "batch_key", default=None, help="Label the selected clips of this ingest batch.")
@click.option("--every", type=int, default=1, show_default=True, help="Run the detectors on every n-th frame.")
@pass_runtime
def autolabel(runtime: Runtime, clip_id: str | None, batch_key: str | None, every: int) -> None:
    """Autolabel clips with the configured detectors and hindsight (tracking, gap filling, fusion)."""
    # ids are checked before the detectors load: an unknown id is answered at once, not after the model
    if clip_id is not None:
        runtime.catalog.require_clip(clip_id)
    if batch_key is not None and batch_key not in runtime.catalog.batch_keys():
        known = ", ".join(runtime.catalog.batch_keys()[-5:]) or "none"
        raise NotFoundError(f"no ingest batch {batch_key!r} (latest batches: {known})")

    detectors = detectors_in_use(runtime.catalog, runtime.store, runtime.settings)
    with ProgressBars() as bars, compute_backend(runtime.settings) as backend:
        context = StageContext(runtime.catalog, runtime.store, runtime.settings, backend, detectors, progress=bars)
        report = autolabel_stage.autolabel(
            context, clip_id=clip_id, batch_key=batch_key, params=HindsightParams(every=every)
        )
    if not report.model_ids:
        raise SettingsError(autolabel_stage.NO_DETECTOR)
    if report.skipped is not None:
        click.echo(
            f"nothing to autolabel: {report.skipped} (clips are autolabelled once mining selects them; use "
            "--clip to force)"
        )
        return
    click.echo(
        f"autolabelled {report.clips} clips ({report.frames} frames, {report.boxes} boxes, {report.tracks} tracks, "
        f"{report.gaps_filled} gaps filled, {report.spurious_tracks_removed} spurious tracks removed) with "
        f"{', '.join(report.model_ids)} at {report.seconds_per_frame * 1000:.1f} ms/frame"
    )
    for failed_clip, reason in report.failed.items():
        click.echo(f"  failed {failed_clip}: {reason}")


@click.group()
def labels() -> None:
    """Look at label files."""


@labels.command("show")
@click.argument("clip_id")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def labels_show(runtime: Runtime, clip_id: str, as_json: bool) -> None:
    """Summary of the newest label-file version of a clip."""
    found = runtime.catalog.require_clip(clip_id)
    latest = read_latest_labels(runtime.store.fetch(found.path).parent)
    if latest is None:
        raise NotFoundError(f"clip {clip_id} has no labels yet (run `data-engine autolabel --clip {clip_id}`)")
    summary = summarize_labels(latest)
    summary["versions"] = [
        {"version": v.version, "kind": v.kind, "author": v.author, "created_at": v.created_at.isoformat()}
        for v in runtime.catalog.label_versions(clip_id)
    ]
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"clip {clip_id}: label version {summary['version']} ({summary['kind']}), {summary['frames']} frames")
    click.echo(f"  models: {', '.join(summary['models']) or '-'}")
    click.echo(f"  boxes: {summary['boxes']} ({summary['interpolated']} interpolated) in {summary['tracks']} tracks")
    for name, count in summary["per_class"].items():
        click.echo(f"    {name:<16}{count:>7}")
    versions = ", ".join(f"v{v['version']} {v['kind']}" for v in summary["versions"])
    click.echo(f"  versions: {versions}")
