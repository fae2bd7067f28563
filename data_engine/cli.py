"""`data-engine`: the command line for scripting and operations.

User errors (bad settings, unreachable catalog, missing files, bad input) print one clear line and exit
with status 2; only real bugs show a traceback.
"""

import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from data_engine.annotation import AnnotationError, review_metrics
from data_engine.autolabel import AutolabelError, HindsightParams, LabelsError, read_latest_labels
from data_engine.catalog import CatalogError, ClipState, TransitionError, VideoStatus
from data_engine.compute import ComputeError, backend_from_settings
from data_engine.datasets import DatasetError, DatasetVersion
from data_engine.detectors import DetectorError
from data_engine.doctor import diagnose
from data_engine.evaluation import Evaluation, EvaluationError
from data_engine.experiments.proving_ground import ProvingGroundError, run_proving_ground
from data_engine.inbox import file_entries, look_at_inbox
from data_engine.registry import RegistryError, RetrainingRecords
from data_engine.registry.models import TrainingRunRecord
from data_engine.runtime import Runtime
from data_engine.settings import Settings, SettingsError
from data_engine.stages.annotate import (
    backend_name,
    clips_ready_to_push,
    import_bundle_annotations,
    pull_reviews,
    push_selected,
    review_history,
)
from data_engine.stages.autolabel import autolabel_clips, summarize_labels
from data_engine.stages.ingest import BatchReport, ingest_batch
from data_engine.stages.main_job import run_main_job
from data_engine.stages.mine import MiningConfig, compute_batch_features, mine_batch_triggers, select_batch
from data_engine.stages.train import (
    add_model,
    build_training_dataset,
    detectors_in_use,
    registry_for,
    train_candidate,
)
from data_engine.synthetic import SyntheticError, generate
from data_engine.training import TrainingError
from data_engine.video.probe import VideoError

USER_ERRORS: tuple[type[Exception], ...] = (
    ProvingGroundError,
    DatasetError,
    RegistryError,
    EvaluationError,
    TrainingError,
    AnnotationError,
    ComputeError,
    AutolabelError,
    DetectorError,
    LabelsError,
    CatalogError,
    SettingsError,
    SyntheticError,
    VideoError,
    TransitionError,
    FileNotFoundError,
    PermissionError,
    KeyError,
)


class EngineGroup(click.Group):
    """A click group that turns user errors into one readable line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as error:
            message = error.args[0] if isinstance(error, KeyError) and error.args else error
            click.echo(f"error: {message}", err=True)
            sys.exit(2)


@click.group(cls=EngineGroup)
@click.pass_context
def main(ctx: click.Context) -> None:
    """The video data engine: ingest, clip, mine, autolabel, annotate, retrain."""
    ctx.obj = Runtime(Settings.from_env())


pass_runtime = click.make_pass_decorator(Runtime)


def _progress(total: int, description: str, unit: str) -> tqdm:
    return tqdm(total=total, desc=description, unit=unit, disable=None, file=sys.stderr, dynamic_ncols=True)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the batch reports as JSON.")
@pass_runtime
def ingest(runtime: Runtime, paths: tuple[str, ...], as_json: bool) -> None:
    """Register and clip the given video files or folders now (the same code the inbox sensor runs)."""
    settings = runtime.settings
    catalog = runtime.catalog
    entries = file_entries(paths)
    with _progress(len(entries), "hashing", "file") as bar:
        look = look_at_inbox(
            catalog,
            entries,
            {},
            settle_seconds=settings.settle_seconds,
            batch_max_videos=settings.batch_max_videos,
            on_hashed=lambda _entry: bar.update(),
        )
    for uri in look.unsettled:
        click.echo(f"skipped (still being written, try again in a moment): {uri}", err=True)
    for uri, digest in look.duplicates:
        click.echo(f"already ingested (same content as video {digest[:12]}): {uri}", err=True)
    for plan in look.batches:
        catalog.create_batch(plan.key, "cli", plan.items)
    reports = []
    pending = catalog.incomplete_batches()
    for batch_key in pending:
        videos = len({item.content_hash for item in catalog.batch_items(batch_key)})
        with _progress(videos, f"batch {batch_key}", "video") as bar:
            report = ingest_batch(
                catalog,
                runtime.store,
                batch_key,
                clip_seconds=settings.clip_seconds,
                progress=lambda _video: bar.update(),
            )
        reports.append(report)
    if as_json:
        click.echo(json.dumps([_report_document(report) for report in reports], indent=2))
    else:
        _print_reports(reports)


def _report_document(report: BatchReport) -> dict[str, Any]:
    return {
        "batch": report.batch_key,
        **report.summary(),
        "quarantined_files": {", ".join(v.sources): v.error for v in report.quarantined},
    }


def _print_reports(reports: list[BatchReport]) -> None:
    if not reports:
        click.echo("nothing new to ingest")
    for report in reports:
        summary = report.summary()
        click.echo(
            f"batch {report.batch_key}: {summary['clipped']} videos clipped into {summary['clips']} clips "
            f"({summary['new_clips']} new, {summary['hours'] * 3600:.1f} s of video), "
            f"{summary['quarantined']} quarantined"
        )
        for video in report.quarantined:
            click.echo(f"  quarantined {', '.join(video.sources)}: {video.error}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_runtime
def status(runtime: Runtime, as_json: bool) -> None:
    """Counts of videos and clips per status, and the oldest clip waiting in each state."""
    counts = runtime.catalog.status_counts()
    waiting = {state: _utc_iso(moment) for state, moment in runtime.catalog.oldest_waiting().items()}
    if as_json:
        click.echo(json.dumps({**counts, "oldest_waiting": waiting}, indent=2))
        return
    click.echo(f"catalog: {runtime.catalog.url}")
    for kind in ("videos", "clips"):
        click.echo(f"{kind}:")
        for state, count in counts[kind].items():
            since = f"  (oldest since {waiting[state]})" if kind == "clips" and state in waiting else ""
            click.echo(f"  {state:<13}{count:>8}{since}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per video.")
@click.option(
    "--status",
    "status_filter",
    type=click.Choice([status.value for status in VideoStatus]),
    help="Only videos in this status.",
)
@pass_runtime
def videos(runtime: Runtime, as_json: bool, status_filter: str | None) -> None:
    """The registered videos."""
    rows = [
        {
            "id": video.id,
            "source": video.source_uri,
            "fps": video.fps,
            "frames": video.frames,
            "duration_s": video.duration_s,
            "status": video.status,
            "error": video.error,
        }
        for video in runtime.catalog.videos(status=status_filter)
    ]
    _print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['id'][:12]}  {r['status']:<12} {r['frames'] or '-':>7} frames  "
            f"{r['fps'] or '-':>6} fps  {r['source']}" + (f"  ({r['error']})" if r["error"] else "")
        ),
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per clip.")
@click.option(
    "--status",
    "status_filter",
    type=click.Choice([state.value for state in ClipState]),
    help="Only clips in this state.",
)
@click.option("--video", "video_id", default=None, help="Only clips of this video id.")
@pass_runtime
def clips(runtime: Runtime, as_json: bool, status_filter: str | None, video_id: str | None) -> None:
    """The clips and their states."""
    store = runtime.store
    rows = [
        {
            "id": clip.id,
            "video_id": clip.video_id,
            "first_video_frame": clip.first_frame,
            "last_video_frame": clip.last_frame,
            "start_s": clip.start_s,
            "end_s": clip.end_s,
            "path": store.uri(clip.path),
            "status": clip.status,
        }
        for clip in runtime.catalog.clips(video_id=video_id, status=status_filter)
    ]
    _print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['id']}  {r['status']:<12} video frames {r['first_video_frame']}-{r['last_video_frame']}"
            f"  {r['start_s']:.2f}-{r['end_s']:.2f} s"
        ),
    )


def _print_rows(rows: list[dict[str, Any]], as_json: bool, line: Callable[[dict[str, Any]], str]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            click.echo(line(row))


@main.group()
def clip() -> None:
    """Look at one clip."""


@clip.command("show")
@click.argument("clip_id")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def clip_show(runtime: Runtime, clip_id: str, as_json: bool) -> None:
    """A clip's journey: every event since it was extracted."""
    found = runtime.catalog.get_clip(clip_id)
    if found is None:
        raise KeyError(f"no clip with id {clip_id!r} (see `data-engine clips`)")
    events = [
        {
            "time": event.created_at.isoformat(),
            "stage": event.stage,
            "from": event.from_state,
            "to": event.to_state,
            "run_id": event.run_id,
            "detail": event.detail,
        }
        for event in runtime.catalog.history(clip_id)
    ]
    hits = [
        {
            "trigger": hit.trigger,
            "first_frame": hit.first_frame,
            "last_frame": hit.last_frame,
            "score": hit.score,
            "details": hit.details,
        }
        for hit in runtime.catalog.hits(clip_id=clip_id)
    ]
    selected = [{"frame": f.frame, "reasons": f.reasons} for f in runtime.catalog.selected_frames(clip_id=clip_id)]
    if as_json:
        document = {"id": clip_id, "status": found.status, "events": events, "hits": hits, "selected": selected}
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(
        f"clip {clip_id}: video {found.video_id[:12]}, frames {found.first_frame}-{found.last_frame}, "
        f"{found.start_s:.2f}-{found.end_s:.2f} s, now {found.status}"
    )
    click.echo(f"file: {runtime.store.uri(found.path)}")
    for event in events:
        arrow = f"{event['from'] or '(new)'} -> {event['to']}"
        click.echo(f"  {event['time']}  {event['stage']:<10} {arrow:<28} {json.dumps(event['detail'])}")
    for hit in hits:
        click.echo(
            f"  hit {hit['trigger']:<22} frames {hit['first_frame']}-{hit['last_frame']}  score {hit['score']:.2f}"
        )
    for frame in selected:
        click.echo(f"  selected frame {frame['frame']}: {json.dumps(frame['reasons'])}")


def _parse_size(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in value.lower().split("x"))
    except ValueError as error:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 320x240, got {value!r}") from error
    return width, height


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same video and truth.")
@click.option("--seconds", type=float, default=10.0, show_default=True)
@click.option("--size", default="320x240", show_default=True, callback=_parse_size, help="WIDTHxHEIGHT")
@click.option("--fps", type=float, default=25.0, show_default=True)
def synth(out_dir: str, seed: int, seconds: float, size: tuple[int, int], fps: float) -> None:
    """Write a proving-ground video (H.264 mp4) and its exact ground truth (JSON)."""
    video = generate(out_dir, seed=seed, seconds=seconds, size=size, fps=fps)
    truth = video.truth()
    click.echo(f"video: {video.video_path}")
    click.echo(f"truth: {video.truth_path} ({len(truth.frames)} frames, {len(truth.events)} injected events)")


@main.command()
@click.option("--clip", "clip_id", default=None, help="Label this clip (whatever its state).")
@click.option("--batch", "batch_key", default=None, help="Label the selected clips of this ingest batch.")
@click.option("--every", type=int, default=1, show_default=True, help="Run the detectors on every n-th frame.")
@pass_runtime
def autolabel(runtime: Runtime, clip_id: str | None, batch_key: str | None, every: int) -> None:
    """Autolabel clips with the configured detectors and hindsight (tracking, gap filling, fusion)."""
    catalog = runtime.catalog
    detectors = detectors_in_use(catalog, runtime.store, runtime.settings)
    if not detectors:
        raise SettingsError(
            "no detector configured and no champion in the registry: set DATA_ENGINE_DETECTORS to one or two "
            "Ultralytics weights (local .pt files, or official names such as yolo11n.pt when online)"
        )
    if clip_id is not None:
        found = catalog.get_clip(clip_id)
        if found is None:
            raise KeyError(f"no clip with id {clip_id!r} (see `data-engine clips`)")
        clips = [found]
    else:
        clips = catalog.clips(batch_key=batch_key, status=ClipState.SELECTED)
    if not clips:
        click.echo("no clips to autolabel (clips are autolabelled once mining selects them; use --clip to force)")
        return
    with _progress(len(clips), "autolabel", "clip") as bar:
        report = autolabel_clips(
            catalog,
            runtime.store,
            detectors,
            clips,
            params=HindsightParams(every=every),
            parquet_key=f"batches/{batch_key}/autolabel_boxes.parquet" if batch_key else None,
            progress=lambda _clip: bar.update(),
        )
    click.echo(
        f"autolabelled {report.clips} clips ({report.frames} frames, {report.boxes} boxes, {report.tracks} tracks, "
        f"{report.gaps_filled} gaps filled, {report.spurious_tracks_removed} spurious tracks removed) with "
        f"{', '.join(report.model_ids)} at {report.seconds_per_frame * 1000:.1f} ms/frame"
    )
    for failed_clip, reason in report.failed.items():
        click.echo(f"  failed {failed_clip}: {reason}")


@main.group()
def labels() -> None:
    """Look at label files."""


@labels.command("show")
@click.argument("clip_id")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def labels_show(runtime: Runtime, clip_id: str, as_json: bool) -> None:
    """Summary of the newest label-file version of a clip."""
    found = runtime.catalog.get_clip(clip_id)
    if found is None:
        raise KeyError(f"no clip with id {clip_id!r} (see `data-engine clips`)")
    latest = read_latest_labels(runtime.store.fetch(found.path).parent)
    if latest is None:
        raise KeyError(f"clip {clip_id} has no labels yet (run `data-engine autolabel --clip {clip_id}`)")
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


@main.command()
@click.option(
    "--batch", "batch_key", default=None, help="Mine this ingest batch (default: every batch with new clips)."
)
@pass_runtime
def mine(runtime: Runtime, batch_key: str | None) -> None:
    """Frame features, trigger hits and the selection of frames for annotation under the daily budget."""
    settings, catalog, store = runtime.settings, runtime.catalog, runtime.store
    batches = [batch_key] if batch_key else catalog.batch_keys()
    detectors = detectors_in_use(catalog, store, settings)
    config = MiningConfig(budget_per_day=settings.budget_per_day)
    if not detectors:
        click.echo("cold start: no detector configured, so image-level triggers and a diversity sample only", err=True)
    with backend_from_settings(settings.compute, settings.workers, settings.dask_address) as backend:
        for key in batches:
            pending = catalog.clips(batch_key=key, status=ClipState.EXTRACTED)
            if not pending and not catalog.clips(batch_key=key, status=ClipState.MINED):
                continue
            with _progress(len(pending), f"features {key}", "clip") as bar:
                features = compute_batch_features(
                    catalog, store, key, backend, progress=lambda done, _total: bar.update(done - bar.n)
                )
            with _progress(len(pending), f"triggers {key}", "clip") as bar:
                hits = mine_batch_triggers(
                    catalog, store, key, detectors, config=config, progress=lambda _clip: bar.update()
                )
            selection = select_batch(catalog, store, key, config=config, cold_start=not detectors)
            triggers = ", ".join(f"{name} {count}" for name, count in sorted(hits.per_trigger.items())) or "none"
            click.echo(
                f"batch {key}: {features.clips} clips featured ({features.frames} frames), {hits.clips} mined, "
                f"hits: {triggers}; selected {selection.selected} frames in {selection.clips_selected} clips "
                f"({selection.duplicates_skipped} near-duplicates skipped, {selection.budget_left} of today's budget "
                f"was left)"
            )
            for clip_id, reason in features.failed.items():
                click.echo(f"  failed {clip_id}: {reason}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit.")
@click.option("--batch", "batch_key", default=None)
@pass_runtime
def triggers(runtime: Runtime, as_json: bool, batch_key: str | None) -> None:
    """Trigger hits: which frames of which clips the triggers flagged, and how strongly. Frames are numbered
    within the clip (`*_clip_frame`) and within its video (`*_video_frame`)."""
    first_frame = _clip_first_frames(runtime, batch_key)
    rows = [
        {
            "clip_id": hit.clip_id,
            "trigger": hit.trigger,
            "first_clip_frame": hit.first_frame,
            "last_clip_frame": hit.last_frame,
            "first_video_frame": first_frame[hit.clip_id] + hit.first_frame,
            "last_video_frame": first_frame[hit.clip_id] + hit.last_frame,
            "score": round(hit.score, 4),
        }
        for hit in runtime.catalog.hits(batch_key=batch_key)
    ]
    _print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['clip_id']}  {r['trigger']:<22} clip frames {r['first_clip_frame']}-{r['last_clip_frame']} "
            f"(video {r['first_video_frame']}-{r['last_video_frame']})  score {r['score']:.2f}"
        ),
    )


def _clip_first_frames(runtime: Runtime, batch_key: str | None) -> dict[str, int]:
    """Each clip's first frame in its video, to number a clip's frames within the video too."""
    return {clip.id: clip.first_frame for clip in runtime.catalog.clips(batch_key=batch_key)}


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per selected frame.")
@click.option("--batch", "batch_key", default=None)
@pass_runtime
def selection(runtime: Runtime, as_json: bool, batch_key: str | None) -> None:
    """Frames selected for annotation and why, numbered within the clip and within its video."""
    first_frame = _clip_first_frames(runtime, batch_key)
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
    _print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['clip_id']}  clip frame {r['clip_frame']:>5} (video {r['video_frame']:>6})  "
            + ", ".join(f"{reason['trigger']} {reason['score']:.2f}" for reason in r["reasons"])
        ),
    )


@main.command()
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


@main.command()
@click.argument("paths", nargs=-1)
@pass_runtime
def run(runtime: Runtime, paths: tuple[str, ...]) -> None:
    """The main job: ingest the inbox (and PATHS), clip, mine, select, autolabel; re-runnable, does only what is new."""
    bars: list[tqdm] = []

    def progress(description: str, total: int) -> Callable[[str], None]:
        bar = _progress(total, description, "item")
        bars.append(bar)
        return lambda _item: bar.update()

    try:
        summary = run_main_job(runtime, paths, progress)
    finally:
        for bar in bars:
            bar.close()
    counts = runtime.catalog.status_counts()
    hours = sum(video.duration_s or 0 for video in runtime.catalog.videos(status="clipped")) / 3600
    click.echo("")
    click.echo(
        f"videos: {counts['videos']['clipped']} clipped ({hours:.3f} h), "
        f"{counts['videos']['quarantined']} quarantined; new batches this run: {len(summary.new_batches)}"
    )
    click.echo("clips:  " + ", ".join(f"{state} {n}" for state, n in counts["clips"].items() if n) or "clips:  none")
    triggers = ", ".join(f"{name} {n}" for name, n in sorted(summary.hits_per_trigger.items())) or "none new"
    click.echo(f"triggers: {triggers}")
    click.echo(f"frames selected this run: {summary.frames_selected}; clips autolabelled: {summary.clips_autolabelled}")
    if summary.tasks_pushed:
        click.echo(f"tasks pushed: {summary.tasks_pushed} frames to {summary.pushed_to}")
    else:
        click.echo("tasks pushed: none new")
    if summary.frames_reviewed:
        click.echo(f"reviewed frames pulled: {summary.frames_reviewed}")
    click.echo(f"model in use: {summary.model_in_use}")
    for source, reason in summary.quarantined.items():
        click.echo(f"quarantined {source}: {reason}")
    for note in summary.notes:
        click.echo(f"note: {note}")
    click.echo(
        "next: annotate the pushed tasks (bundles come back with `data-engine import-annotations PATH`), "
        "`data-engine selection` lists the chosen frames, `data-engine clip show ID` a clip's journey, "
        "`make ui` opens the Dagster UI"
    )


@main.command()
@click.option(
    "--backend",
    type=click.Choice(["bundle", "labelstudio"]),
    default=None,
    help="Default: labelstudio when DATA_ENGINE_LABEL_STUDIO_URL is set, else bundle.",
)
@pass_runtime
def push(runtime: Runtime, backend: str | None) -> None:
    """Send the selected frames of autolabelled clips (selected ones on a cold start) to annotators."""
    settings = runtime.settings
    chosen = backend_name(settings, backend)
    cold_start = not detectors_in_use(runtime.catalog, runtime.store, settings)
    clips = clips_ready_to_push(runtime.catalog, cold_start=cold_start)
    if not clips:
        click.echo("nothing to push (no autolabelled clips with selected frames)")
        return
    with _progress(0, f"push to {chosen}", "task") as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = push_selected(runtime.catalog, runtime.store, settings, clips, backend=chosen, progress=advance)
    click.echo(
        f"pushed {report.frames} frames of {report.clips} clips to {report.backend} "
        f"({report.with_pre_annotations} with pre-annotations): {report.project_url}"
    )


@main.command()
@pass_runtime
def pull(runtime: Runtime) -> None:
    """Bring reviewed labels back from Label Studio as new label-file versions."""
    report = pull_reviews(runtime.catalog, runtime.store, runtime.settings)
    if not report.runs:
        click.echo("no open Label Studio runs (bundles come back with `data-engine import-annotations PATH`)")
        return
    click.echo(
        f"pulled {report.frames_reviewed} reviewed frames from {len(report.runs)} runs: "
        f"{report.label_versions_written} label versions written, {report.clips_annotated} clips annotated, "
        f"{report.boxes_rejected} boxes rejected, {report.pending} frames still waiting, "
        f"{report.missing} tasks gone from the platform"
    )


@main.command("import-annotations")
@click.argument("path", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def import_annotations_command(runtime: Runtime, path: str, as_json: bool) -> None:
    """Read completed annotation files (Label Studio JSON, COCO, YOLO or CVAT XML) of an exported bundle."""
    imported, report = import_bundle_annotations(runtime.catalog, runtime.store, path)
    if as_json:
        click.echo(json.dumps({**imported.to_json(), "clips_annotated": report.clips_annotated}, indent=2))
    else:
        for file in imported.files:
            status = f"error: {file.error}" if file.error else f"{file.frames} frames, {file.boxes} boxes imported"
            click.echo(f"{file.path} ({file.format}): {status}, {len(file.rejected)} rejected")
            for rejection in file.rejected:
                click.echo(
                    f"  rejected {rejection.label or 'frame'} in clip {rejection.clip_id} frame "
                    f"{rejection.frame}: {rejection.reason}"
                )
        click.echo(f"{report.label_versions_written} label versions written, {report.clips_annotated} clips annotated")
    if not imported.ok:
        sys.exit(1)


@main.command("annotation-stats")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def annotation_stats(runtime: Runtime, as_json: bool) -> None:
    """Images reviewed per annotator and day, lead time, and how much humans changed the autolabels per trigger."""
    metrics = review_metrics(review_history(runtime.catalog, runtime.store))
    click.echo(json.dumps(metrics.to_json(), indent=2) if as_json else metrics.markdown())


@main.group()
def dataset() -> None:
    """Versioned training datasets built from reviewed labels."""


@dataset.command("build")
@click.option("--coco", is_flag=True, help="Also export COCO annotations.")
@pass_runtime
def dataset_build(runtime: Runtime, coco: bool) -> None:
    """Build a dataset version (split by video, frozen test split, leakage check) from the reviewed labels."""
    built = build_training_dataset(runtime.catalog, runtime.store, coco=coco)
    state = "new" if built.created else "no new reviewed labels since"
    click.echo(f"dataset {built.dataset_id} ({state}): {json.dumps(built.manifest.counts())}")
    for rejected in built.report.rejected:
        click.echo(f"  left out clip {rejected.clip_id} (label v{rejected.label_version}): {rejected.reason}")
    if built.report.classes_missing_from_test:
        click.echo(f"  classes absent from test: {', '.join(built.report.classes_missing_from_test)}")
    _print_warnings(built)
    click.echo(f"YOLO data: {built.data_yaml}")


@main.command()
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
    with _progress(settings.train_epochs, "training", "epoch") as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        candidate = train_candidate(runtime.catalog, runtime.store, settings, built, run_id, progress=advance)
    result = candidate.training
    click.echo(
        f"training {result.status}: {result.epochs_completed} epochs on {result.device} in "
        f"{result.duration_s:.0f} s, estimated cost {result.estimated_cost:.2f}"
    )
    if candidate.model is None or candidate.decision is None:
        raise TrainingError(f"training left no weights (status {result.status}: {result.error}); see {result.run_dir}")
    click.echo(f"model {candidate.model.id}")
    if candidate.evaluation is not None:
        _print_evaluation(candidate.evaluation)
    click.echo(f"gate: {candidate.decision.verdict}")
    for note in candidate.decision.notes:
        click.echo(f"  note: {note}")


def _print_dataset(built: DatasetVersion) -> None:
    state = "new" if built.created else "no new reviewed labels since"
    counts = built.manifest.counts()
    splits = ", ".join(
        f"{split} {numbers['images']} images ({numbers['groups']} group{'s' * (numbers['groups'] != 1)})"
        for split, numbers in counts.items()
    )
    click.echo(f"dataset {built.dataset_id} ({state}): {splits}")
    _print_warnings(built)


def _print_warnings(built: DatasetVersion) -> None:
    for warning in built.report.warnings:
        click.echo(f"  warning: {warning}", err=True)


def _print_evaluation(evaluation: Evaluation) -> None:
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


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model version.")
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """Model versions in the registry with their metrics, lineage and status (`models show ID`, `models add PATH`)."""
    if ctx.invoked_subcommand is not None:
        return
    runtime: Runtime = ctx.obj
    rows = [model.to_json() for model in registry_for(runtime.catalog, runtime.store, runtime.settings).models()]
    width = max((len(row["id"]) for row in rows), default=0)
    _print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['id']:<{width}}  {r['status'] + (' (archived)' if r['archived'] else ''):<22} "
            f"mAP50 {_score(r['map50'])}  "
            f"mAP50-95 {_score(r['map50_95'])}  dataset {r['dataset'] or '-'}  parent {r['parent'] or '-'}"
            + (f"  ({r['reason']})" if r["reason"] else "")
        ),
    )


def _score(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


@models.command("show")
@click.argument("model_id")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def models_show(runtime: Runtime, model_id: str, as_json: bool) -> None:
    """One model: status and reason, metrics per class and slice, the gate's reasons, lineage and events."""
    registry = registry_for(runtime.catalog, runtime.store, runtime.settings)
    model = registry.get(model_id)
    decision = registry.gate_record(model_id)
    run = RetrainingRecords(runtime.catalog).get_training_run(model.training_run_id) if model.training_run_id else None
    events = [
        {
            "time": _utc_iso(event.created_at),
            "kind": event.kind,
            "from": event.from_status,
            "to": event.to_status,
            "actor": event.actor,
            "detail": event.detail,
        }
        for event in registry.events(model_id)
    ]
    lineage = [{"id": ancestor.id, "status": ancestor.status.value} for ancestor in registry.lineage(model_id)[1:]]
    other_evaluations = {
        row.dataset_id: {"map50": row.metrics.get("map50"), "map50_95": row.metrics.get("map50_95")}
        for row in registry.records.evaluations(model_id)
        if row.dataset_id != model.dataset_id
    }
    source = next((event.detail.get("source") for event in registry.events(model_id) if event.kind == "register"), None)
    if as_json:
        document = {
            **model.to_json(),
            "weights": None if model.archived else runtime.store.uri(model.weights_key),
            "source": source,
            "evaluation": model.metrics or None,
            "gate": decision.to_json() if decision else None,
            "lineage": lineage,
            "training_run": _training_run_json(run),
            "other_evaluations": other_evaluations,
            "events": events,
        }
        click.echo(json.dumps(document, indent=2))
        return
    archived = " (archived: weights removed)" if model.archived else ""
    click.echo(f"model {model.id}: {model.status}{archived}" + (f", {model.reason}" if model.reason else ""))
    click.echo(
        f"  weights: {runtime.store.uri(model.weights_key)} (sha256 {model.sha256[:12]}..., {model.size_bytes} bytes)"
    )
    click.echo(f"  source: {source}")
    if run is not None:
        click.echo(
            f"  trained: run {run.id} from {run.params.get('model')} on {run.dataset_id}, {run.epochs_completed} "
            f"epochs on {run.device} in "
            f"{run.duration_s:.0f} s ({run.status}), estimated cost {run.estimated_cost:.2f}"
        )
    click.echo(
        "  lineage: "
        + " <- ".join([model.id, *(f"{a['id']} ({a['status']})" for a in lineage)])
        + ("" if lineage else " (no parent in the registry)")
    )
    if model.evaluation is not None:
        _print_evaluation(model.evaluation)
    else:
        click.echo("  not evaluated yet: no dataset version existed when it was added")
    for dataset_id, scores in other_evaluations.items():
        click.echo(
            f"  also measured on {dataset_id}: mAP50 {_score(scores['map50'])}, mAP50-95 {_score(scores['map50_95'])}"
        )
    if decision is not None:
        click.echo(f"  gate: {decision.verdict}")
        for note in decision.notes:
            click.echo(f"    note: {note}")
    for event in events:
        click.echo(
            f"  {event['time']}  {event['kind']:<15} {event['from'] or '(new)'} -> {event['to']}"
            f"  by {event['actor'] or '-'}  {json.dumps(event['detail'])}"
        )


def _training_run_json(run: TrainingRunRecord | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "dataset": run.dataset_id,
        "status": run.status,
        "epochs": run.epochs_completed,
        "device": run.device,
        "duration_s": run.duration_s,
        "estimated_cost": run.estimated_cost,
        "params": run.params,
    }


@models.command("add")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "model_id", default=None, help="Registry id (default: m-<time>-<sha256 prefix>).")
@click.option("--promote", "promote_now", is_flag=True, help="Make it the champion by hand at once.")
@click.option("--gate", "use_gate", is_flag=True, help="Let the promotion gate decide (needs a dataset version).")
@pass_runtime
def models_add(runtime: Runtime, path: Path, model_id: str | None, promote_now: bool, use_gate: bool) -> None:
    """Register a model trained elsewhere (e.g. a team's own pretrained Ultralytics weights), measured on the
    latest dataset version's frozen test split when there is one."""
    if promote_now and use_gate:
        raise click.UsageError("choose --promote (by hand) or --gate (the gate decides), not both")
    added = add_model(
        runtime.catalog,
        runtime.store,
        runtime.settings,
        path,
        actor=_actor(),
        model_id=model_id,
        promote=promote_now,
        use_gate=use_gate,
    )
    click.echo(f"model {added.model.id} added from {path}")
    if added.model.evaluation is not None:
        _print_evaluation(added.model.evaluation)
    else:
        click.echo("  not evaluated: there is no dataset version yet")
    click.echo(f"  {added.verdict}")


@main.command()
@click.argument("model_id")
@click.option("--note", default="", help="Why, for the record.")
@pass_runtime
def promote(runtime: Runtime, model_id: str, note: str) -> None:
    """Make a model version the champion by hand, bypassing the gate (recorded as an event)."""
    registry = registry_for(runtime.catalog, runtime.store, runtime.settings)
    before = registry.champion()
    model = registry.promote(model_id, actor=_actor(), note=note)
    replaced = (
        f"; {before.id} is retired (`data-engine rollback` brings it back)" if before and before.id != model.id else ""
    )
    click.echo(f"{model.id} is the champion{replaced}")


@main.command()
@click.option("--note", default="", help="Why, for the record.")
@pass_runtime
def rollback(runtime: Runtime, note: str) -> None:
    """Take the champion out and reinstate the previous one (a second rollback goes further back)."""
    registry = registry_for(runtime.catalog, runtime.store, runtime.settings)
    current = registry.champion()
    model = registry.rollback(actor=_actor(), note=note)
    click.echo(f"rolled back: {model.id} is the champion again; {current.id if current else '?'} is rolled_back")


def _utc_iso(moment: datetime) -> str:
    """An ISO 8601 time with its zone; SQLite hands back UTC times without one."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@main.command("proving-ground")
@click.option("--rounds", type=int, default=3, show_default=True)
@click.option("--budget", type=int, default=40, show_default=True, help="Frames labelled per round.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Working folder (default: DATA_ENGINE_HOME/proving-ground).",
)
@pass_runtime
def proving_ground(runtime: Runtime, rounds: int, budget: int, seed: int, out_dir: str | None) -> None:
    """The data-engine loop measured: mining-selected vs random labelling at the same budget, test mAP per round."""
    folder = Path(out_dir) if out_dir else runtime.settings.home / "proving-ground"
    with _progress(0, "proving ground", "step") as bar:
        report = run_proving_ground(folder, rounds=rounds, budget=budget, seed=seed, progress=lambda *_: bar.update())
    click.echo(report.table())
    click.echo(f"plot: {report.write_plot(folder / 'curves.png')}")
