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
from data_engine.catalog import CatalogError, ClipState, TransitionError
from data_engine.compute import ComputeError, backend_from_settings
from data_engine.datasets import DatasetError
from data_engine.detectors import DetectorError
from data_engine.doctor import diagnose
from data_engine.evaluation.footage import FootageError, evaluate_footage
from data_engine.evaluation.mot import MotFormatError
from data_engine.evaluation.trigger_yield import trigger_yields
from data_engine.experiments.proving_ground import ProvingGroundConfig, ProvingGroundError, run_proving_ground_seeds
from data_engine.inbox import file_entries, look_at_inbox
from data_engine.registry import RegistryError
from data_engine.reports.html import reports_index
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
from data_engine.stages.train import build_training_dataset, detectors_in_use, registry_for, train_candidate
from data_engine.synthetic import HARD_CONDITIONS, HardCases, SyntheticError, generate
from data_engine.training import TrainingError
from data_engine.video.probe import VideoError

USER_ERRORS: tuple[type[Exception], ...] = (
    ProvingGroundError,
    FootageError,
    MotFormatError,
    DatasetError,
    RegistryError,
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
    waiting = {state: moment.isoformat() for state, moment in runtime.catalog.oldest_waiting().items()}
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
@click.option("--status", "status_filter", default=None, help="Only videos in this status.")
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
@click.option("--status", "status_filter", default=None, help="Only clips in this state.")
@click.option("--video", "video_id", default=None, help="Only clips of this video id.")
@pass_runtime
def clips(runtime: Runtime, as_json: bool, status_filter: str | None, video_id: str | None) -> None:
    """The clips and their states."""
    store = runtime.store
    rows = [
        {
            "id": clip.id,
            "video_id": clip.video_id,
            "first_frame": clip.first_frame,
            "last_frame": clip.last_frame,
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
            f"{r['id']}  {r['status']:<12} frames {r['first_frame']}-{r['last_frame']}"
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
@click.option(
    "--hard-cases",
    "hard_share",
    type=float,
    default=None,
    help=f"An easy scene with this share of frames under rare hard conditions ({', '.join(HARD_CONDITIONS)}), "
    "e.g. 0.04; without it the classic proving ground with events everywhere.",
)
def synth(out_dir: str, seed: int, seconds: float, size: tuple[int, int], fps: float, hard_share: float | None) -> None:
    """Write a proving-ground video (H.264 mp4) and its exact ground truth (JSON)."""
    hard = None if hard_share is None else HardCases(share=hard_share)
    video = generate(out_dir, seed=seed, seconds=seconds, size=size, fps=fps, hard_cases=hard)
    truth = video.truth()
    click.echo(f"video: {video.video_path}")
    click.echo(f"truth: {video.truth_path} ({len(truth.frames)} frames, {len(truth.events)} injected events)")
    if hard is not None:
        click.echo(
            f"hard frames: {len(truth.hard_frames())} of {truth.frame_count} (conditions per frame in the events)"
        )


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
    """Trigger hits: which frames of which clips the triggers flagged, and how strongly."""
    rows = [
        {
            "clip_id": hit.clip_id,
            "first_frame": hit.first_frame,
            "last_frame": hit.last_frame,
            "trigger": hit.trigger,
            "score": round(hit.score, 4),
        }
        for hit in runtime.catalog.hits(batch_key=batch_key)
    ]
    _print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['clip_id']}  {r['trigger']:<22} frames {r['first_frame']}-{r['last_frame']}  score {r['score']:.2f}"
        ),
    )


@main.command()
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
    """Frames selected for annotation and why."""
    if report:
        index, *pages = reports_index(runtime.catalog, runtime.store, [batch_key] if batch_key else None)
        for page in pages:
            click.echo(f"{'batch' if page.parent.parent.name == 'batches' else 'dataset'} {page.parent.name}: {page}")
        click.echo(f"index: {index}")
        return
    rows = [
        {
            "clip_id": frame.clip_id,
            "frame": frame.frame,
            "reasons": frame.reasons.get("reasons", []),
            "budget_day": frame.budget_day,
        }
        for frame in runtime.catalog.selected_frames(batch_key=batch_key)
    ]
    _print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['clip_id']}  frame {r['frame']:>5}  "
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
    """Images reviewed per annotator and day, lead time, how much humans changed the autolabels per trigger, and
    each trigger's yield and lift over frames chosen without a trigger."""
    metrics = review_metrics(review_history(runtime.catalog, runtime.store))
    lift = trigger_yields(metrics)
    if as_json:
        click.echo(json.dumps({**metrics.to_json(), "trigger_yield": lift.to_json()}, indent=2))
    else:
        click.echo(metrics.markdown() + "\n\n" + lift.markdown())


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
    click.echo(f"YOLO data: {built.data_yaml}")


@main.command()
@pass_runtime
def train(runtime: Runtime) -> None:
    """Build the dataset, train a challenger (fine-tuning the champion), evaluate it and run the promotion gate."""
    built = build_training_dataset(runtime.catalog, runtime.store)
    run_id = f"train-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    click.echo(f"training on {built.dataset_id} (run {run_id}); the run is killed past DATA_ENGINE_TRAIN_BUDGET_HOURS")
    candidate = train_candidate(runtime.catalog, runtime.store, runtime.settings, built, run_id)
    result = candidate.training
    click.echo(
        f"training {result.status}: {result.epochs_completed} epochs on {result.device} in "
        f"{result.duration_s:.0f} s, estimated cost {result.cost:.2f}"
    )
    if candidate.model is None:
        raise TrainingError(f"training left no weights (status {result.status}: {result.error}); see {result.run_dir}")
    model, decision = candidate.model, candidate.decision
    click.echo(f"model {model.id}: mAP50 {model.map50:.3f}, mAP50-95 {model.map50_95:.3f}")
    verdict = (
        "promoted to champion" if decision and decision.passed else f"rejected: {decision.reason if decision else '?'}"
    )
    click.echo(f"gate: {verdict}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model version.")
@pass_runtime
def models(runtime: Runtime, as_json: bool) -> None:
    """Model versions in the registry with their metrics, lineage and status."""
    rows = [model.to_json() for model in registry_for(runtime.catalog, runtime.store, runtime.settings).models()]
    _print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['id']}  {r['status']:<10} mAP50 {r['map50']:.3f}  "
            f"mAP50-95 {r['map50_95']:.3f}  dataset {r['dataset']}  parent {r['parent'] or '-'}"
        ),
    )


@main.command()
@click.argument("model_id")
@pass_runtime
def promote(runtime: Runtime, model_id: str) -> None:
    """Make a model version the champion by hand (recorded as an event)."""
    model = registry_for(runtime.catalog, runtime.store, runtime.settings).promote(model_id, actor=_actor())
    click.echo(f"{model.id} is the champion")


@main.command()
@pass_runtime
def rollback(runtime: Runtime) -> None:
    """Give the championship back to the previous champion (recorded as an event)."""
    model = registry_for(runtime.catalog, runtime.store, runtime.settings).rollback(actor=_actor())
    click.echo(f"rolled back: {model.id} is the champion again")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@main.command("proving-ground")
@click.option("--seeds", "seed_count", type=int, default=1, show_default=True, help="Repeat for seeds SEED..SEED+N-1.")
@click.option("--seed", type=int, default=0, show_default=True, help="The first seed.")
@click.option("--rounds", type=int, default=3, show_default=True)
@click.option("--budget", type=int, default=40, show_default=True, help="Frames labelled per round.")
@click.option(
    "--hard-share", type=float, default=0.04, show_default=True, help="Share of frames under a rare hard condition."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Working folder (default: DATA_ENGINE_HOME/proving-ground); finished seeds there are reused.",
)
@click.option(
    "--triggers",
    "triggers_only",
    is_flag=True,
    help="Instead of the loop: precision and recall of each trigger against the truth of one video per seed "
    "(model-level triggers with the configured detectors, when there are any).",
)
@click.option("--seconds", type=float, default=20.0, show_default=True, help="With --triggers: each video's length.")
@pass_runtime
def proving_ground(
    runtime: Runtime,
    seed_count: int,
    seed: int,
    rounds: int,
    budget: int,
    hard_share: float,
    out_dir: str | None,
    triggers_only: bool,
    seconds: float,
) -> None:
    """The data-engine loop measured on synthetic videos with rare hard cases: mining vs random vs uncertainty
    labelling at the same budget, test mAP overall and on the rare cases per round, over seeds with 95 % intervals."""
    if seed_count < 1:
        raise ProvingGroundError(f"--seeds must be at least 1, got {seed_count}")
    folder = Path(out_dir) if out_dir else runtime.settings.home / "proving-ground"
    seeds = list(range(seed, seed + seed_count))
    if triggers_only:
        _score_triggers(runtime, seeds, folder, seconds)
        return
    config = ProvingGroundConfig(rounds=rounds, budget=budget, hard_share=hard_share)
    with _progress(0, "proving ground", "step") as bar:

        def step(message: str) -> None:
            bar.set_postfix_str(message[:70], refresh=False)
            bar.update()

        report = run_proving_ground_seeds(folder, seeds, config, progress=step)
    (folder / "report.json").write_text(json.dumps(report.to_json(), indent=1))
    click.echo(report.table())
    click.echo(f"plot: {report.write_plot(folder / 'curves.png')}")
    click.echo(f"report: {folder / 'report.json'}")


def _score_triggers(runtime: Runtime, seeds: list[int], folder: Path, seconds: float) -> None:
    from data_engine.experiments.mining_triggers import (
        evaluate_models_on_proving_ground,
        evaluate_proving_ground,
        format_model_table,
        format_table,
    )

    click.echo(format_table(evaluate_proving_ground(seeds, folder / "triggers", seconds=seconds)))
    detectors = detectors_in_use(runtime.catalog, runtime.store, runtime.settings)
    if detectors:
        reference = detectors[1] if len(detectors) > 1 else None
        scores = evaluate_models_on_proving_ground(seeds, folder / "triggers", detectors[0], reference, seconds)
        click.echo(format_model_table(scores))
    else:
        click.echo("no detector configured: model-level triggers not scored (set DATA_ENGINE_DETECTORS)")


@main.command()
@click.argument("source", required=False, type=click.Path(exists=True))
@click.option(
    "--gt",
    "ground_truth",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="MOTChallenge ground truth (default: SOURCE/gt/gt.txt of a sequence folder).",
)
@click.option(
    "--predictions",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Score this MOTChallenge result file (any detector's or tracker's) instead of running the detectors.",
)
@click.option(
    "--class", "class_name", default="person", show_default=True, help="The detectors' class the ground truth labels."
)
@click.option(
    "--threshold",
    type=float,
    default=0.25,
    show_default=True,
    help="Confidence from which raw detector boxes count for P/R/F1 (mAP50 uses all).",
)
@click.option(
    "--min-visibility",
    type=float,
    default=0.0,
    show_default=True,
    help="Ground-truth boxes less visible than this (visibility column) are don't-care.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def evaluate(
    runtime: Runtime,
    source: str | None,
    ground_truth: str | None,
    predictions: str | None,
    class_name: str,
    threshold: float,
    min_visibility: float,
    as_json: bool,
) -> None:
    """Measure the engine on labelled footage: a video, a folder of frames or a MOTChallenge sequence with
    MOTChallenge ground truth. Raw detections vs hindsight labels (P/R/F1 at IoU 0.5, mAP50), tracking quality
    (HOTA, MOTA, IDF1) and, per trigger, the error rate of the frames it flags against all frames (lift)."""
    detectors = [] if predictions else detectors_in_use(runtime.catalog, runtime.store, runtime.settings)
    report = evaluate_footage(
        source,
        ground_truth,
        detectors=detectors,
        predictions=predictions,
        class_name=class_name,
        threshold=threshold,
        min_visibility=min_visibility,
        progress=lambda message: click.echo(message, err=True),
    )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo("\n".join(report.lines()))
