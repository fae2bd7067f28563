"""`data-engine`: the command line for scripting and operations.

Commands parse arguments, call one stage (data_engine/stages/) and print. The engine's own errors (bad settings,
an unreachable catalog, a missing file or id, bad input) print one `error: ...` line and exit with status 2; any
other exception is a bug and keeps its traceback. `--debug` (or DATA_ENGINE_DEBUG=1) shows the traceback of the
engine's errors too. Stage modules are imported inside the commands that use them, so that `--help`, `status`
and the listings start quickly.
"""

from __future__ import annotations

import getpass
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click

from data_engine.catalog.states import ClipState, VideoStatus
from data_engine.errors import EngineError, NotFoundError, keep_secret, redact, redact_logs
from data_engine.runtime import Runtime
from data_engine.settings import ANNOTATION_BACKENDS, BUNDLE_ANSWER_FORMATS, Settings, SettingsError

if TYPE_CHECKING:
    from tqdm import tqdm

    from data_engine.datasets import DatasetVersion
    from data_engine.evaluation import Evaluation
    from data_engine.registry.models import TrainingRunRecord
    from data_engine.stages.ingest import BatchReport


class EngineGroup(click.Group):
    """A click group that turns the engine's errors into one readable line (and a traceback with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EngineError as error:
            if ctx.params.get("debug"):
                click.echo(redact(traceback.format_exc()), err=True, nl=False)
            click.echo(redact(f"error: {' '.join(str(error).split())}"), err=True)
            sys.exit(2)


@click.group(cls=EngineGroup)
@click.option(
    "--debug", is_flag=True, envvar="DATA_ENGINE_DEBUG", help="Show the traceback of errors too (DATA_ENGINE_DEBUG=1)."
)
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """The video data engine: ingest, clip, mine, autolabel, annotate, retrain."""
    # `debug` is read from ctx.params by EngineGroup.invoke, which also sees errors raised right here.
    redact_logs()
    ctx.obj = Runtime(Settings.from_env())
    keep_secret(ctx.obj.settings.label_studio_token)


pass_runtime = click.make_pass_decorator(Runtime)


def duration_text(seconds: float) -> str:
    """A duration as a person reads it: `42.5 s`, `3 min 20 s`, `2 h 05 min`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _progress(total: int, description: str, unit: str) -> tqdm:
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, disable=None, file=sys.stderr, dynamic_ncols=True)


class ProgressBars:
    """The stages' progress (`data_engine.progress.Progress`) as one bar per step on stderr, on a terminal."""

    def __init__(self) -> None:
        self._step: str | None = None
        self._bar: tqdm | None = None

    def __call__(self, step: str, done: int, total: int) -> None:
        if step != self._step or self._bar is None:
            self.close()
            self._step, self._bar = step, _progress(total, step, "item")
        self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._step, self._bar = None, None

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the batch reports as JSON.")
@pass_runtime
def ingest(runtime: Runtime, paths: tuple[str, ...], as_json: bool) -> None:
    """Register and clip the given video files or folders now (the same code the inbox sensor runs)."""
    from data_engine.stages import ingest as ingest_stage

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
    _fail_on_failed_videos({", ".join(v.sources): v.error or "" for batch in report.batches for v in batch.failed})


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


def _fail_on_failed_videos(failed: dict[str, str]) -> None:
    """Passing faults end the command with one error line and status 1; the videos wait for the next run."""
    if failed:
        click.echo(
            f"error: {len(failed)} video(s) failed on a passing fault (first: {next(iter(failed.values()))}); "
            "fix it and run again (failed videos are retried with backoff) or `data-engine retry --all-failed`",
            err=True,
        )
        sys.exit(1)


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
            "fps_min": video.fps_min,
            "fps_max": video.fps_max,
            "frames": video.frames,
            "duration_s": video.duration_s,
            "status": video.status,
            "error": video.error,
            "attempts": video.attempts,
            "next_attempt_at": video.next_attempt_at.isoformat() if video.next_attempt_at else None,
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
    found = runtime.catalog.require_clip(clip_id)
    events = [
        {
            "time": _utc_iso(event.created_at),
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
        run = f"run {event['run_id']}" if event["run_id"] else "no run"
        click.echo(f"  {event['time']}  {event['stage']:<10} {arrow:<28} {run}  {json.dumps(event['detail'])}")
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
    help="An easy scene with this share of frames under rare hard conditions (a rare look, a lighting change, a long "
    "occlusion, motion blur, an object at the border), e.g. 0.04; without it the classic proving ground with events "
    "everywhere.",
)
def synth(out_dir: str, seed: int, seconds: float, size: tuple[int, int], fps: float, hard_share: float | None) -> None:
    """Write a proving-ground video (H.264 mp4) and its exact ground truth (JSON)."""
    from data_engine.synthetic import HardCases, generate

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
    # ids are checked before the detectors load: an unknown id is answered at once, not after the model
    if clip_id is not None:
        runtime.catalog.require_clip(clip_id)
    if batch_key is not None and batch_key not in runtime.catalog.batch_keys():
        known = ", ".join(runtime.catalog.batch_keys()[-5:]) or "none"
        raise NotFoundError(f"no ingest batch {batch_key!r} (latest batches: {known})")
    from data_engine.autolabel import HindsightParams
    from data_engine.registry import detectors_in_use
    from data_engine.runtime import compute_backend
    from data_engine.stages import autolabel as autolabel_stage

    detectors = detectors_in_use(runtime.catalog, runtime.store, runtime.settings)
    with ProgressBars() as bars, compute_backend(runtime.settings) as backend:
        report = autolabel_stage.autolabel(
            runtime.catalog,
            runtime.store,
            detectors,
            clip_id=clip_id,
            batch_key=batch_key,
            params=HindsightParams(every=every),
            progress=bars,
            backend=backend,
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


@main.group()
def labels() -> None:
    """Look at label files."""


@labels.command("show")
@click.argument("clip_id")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def labels_show(runtime: Runtime, clip_id: str, as_json: bool) -> None:
    """Summary of the newest label-file version of a clip."""
    from data_engine.autolabel import read_latest_labels
    from data_engine.stages.autolabel import summarize_labels

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


@main.command()
@click.option(
    "--batch", "batch_key", default=None, help="Mine this ingest batch (default: every batch with new clips)."
)
@pass_runtime
def mine(runtime: Runtime, batch_key: str | None) -> None:
    """Frame features, trigger hits and the selection of frames for annotation under the daily budget."""
    from data_engine.registry import detectors_in_use
    from data_engine.stages import mine as mine_stage

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
        from data_engine.reports.html import reports_index

        index, *pages = reports_index(runtime.catalog, runtime.store, [batch_key] if batch_key else None)
        for page in pages:
            click.echo(f"{'batch' if page.parent.parent.name == 'batches' else 'dataset'} {page.parent.name}: {page}")
        click.echo(f"index: {index}")
        return
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
    from data_engine.doctor import diagnose

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
    from data_engine.stages.main_job import run_main_job

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
    from data_engine.annotation.backends import answers_hint

    click.echo(
        f"next: {answers_hint(runtime.settings)}, "
        "`data-engine selection` lists the chosen frames, `data-engine clip show ID` a clip's journey, "
        "`make ui` opens the Dagster UI"
    )
    _fail_on_failed_videos(summary.failed)


@main.command()
@click.option("--video", "video_ids", multiple=True, help="Re-queue this failed or quarantined video (repeatable).")
@click.option("--clip", "clip_ids", multiple=True, help="Put this failed clip back where it failed (repeatable).")
@click.option("--all-failed", is_flag=True, help="Re-queue every failed video and clip.")
@pass_runtime
def retry(runtime: Runtime, video_ids: tuple[str, ...], clip_ids: tuple[str, ...], all_failed: bool) -> None:
    """Re-queue failed work by hand, without waiting for its backoff; the next `run` or `ingest` does it."""
    if not (video_ids or clip_ids or all_failed):
        raise click.UsageError("say what to retry: --video ID, --clip ID or --all-failed")
    from data_engine.stages.retry import retry as retry_stage

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


@main.command()
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
    from data_engine.registry import detectors_in_use
    from data_engine.stages.annotate import push_again, push_ready

    catalog, store, settings = runtime.catalog, runtime.store, runtime.settings
    if answer_format is not None:
        settings = replace(settings, bundle_answer_format=answer_format)
    with ProgressBars() as bars:
        if again is not None:
            report = push_again(catalog, store, settings, again, progress=bars)
        else:
            cold_start = not detectors_in_use(catalog, store, settings)
            report = push_ready(
                catalog, store, settings, cold_start=cold_start, annotation_backend=backend, progress=bars
            )
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


@main.command()
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
    from data_engine.stages.annotate import parse_duration, pull_reviews

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


@main.command("import-annotations")
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
def import_annotations_command(
    runtime: Runtime, path: str | None, file_format: str | None, dry_run: bool, undo: str | None, as_json: bool
) -> None:
    """Import the answers of an exported bundle: its answer file (a folder, its zip, or the file itself). Only
    frames a person answered are imported; a frame whose every box is refused stays unreviewed."""
    from data_engine.stages.annotate import import_answers, undo_import

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


@main.command("annotation-stats")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def annotation_stats(runtime: Runtime, as_json: bool) -> None:
    """Images reviewed per annotator and day, lead time, how much humans changed the autolabels per trigger, and
    each trigger's yield and lift over frames chosen without a trigger."""
    from data_engine.annotation import review_metrics
    from data_engine.annotation.history import review_history
    from data_engine.evaluation.trigger_yield import trigger_yields

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
    from data_engine.datasets import DatasetConfig
    from data_engine.stages.train import build_training_dataset

    with ProgressBars() as bars:
        built = build_training_dataset(runtime.catalog, runtime.store, DatasetConfig(coco=coco), progress=bars)
    click.echo(_dataset_line(built))
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
    from data_engine.registry import registry_for
    from data_engine.stages.train import build_training_dataset, train_candidate

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
    click.echo(f"model {candidate.model.id}")
    if candidate.evaluation is not None:
        _print_evaluation(candidate.evaluation)
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
    from data_engine.registry import registry_for

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
    from data_engine.registry import RetrainingRecords, registry_for

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
    from data_engine.stages.train import add_model

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
    from data_engine.registry import registry_for

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
    from data_engine.registry import registry_for

    registry = registry_for(runtime.catalog, runtime.store, runtime.settings)
    current = registry.champion()
    model = registry.rollback(actor=_actor(), note=note)
    click.echo(f"rolled back: {model.id} is the champion again; {current.id if current else '?'} is rolled_back")


def _utc_iso(moment: datetime) -> str:
    """An ISO 8601 time with its zone; SQLite hands back UTC times without one."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@main.group("proving-ground", invoke_without_command=True)
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
@click.pass_context
def proving_ground(
    ctx: click.Context,
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
    labelling at the same budget, test mAP overall and on the rare cases per round, over seeds with 95 % intervals.
    `proving-ground answer BUNDLE` is its simulated annotator."""
    if ctx.invoked_subcommand is not None:
        return
    runtime: Runtime = ctx.obj
    from data_engine.experiments.proving_ground import (
        ProvingGroundConfig,
        ProvingGroundError,
        run_proving_ground_seeds,
    )

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


@proving_ground.command("answer")
@click.argument("bundle", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--truth",
    "truth_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of the videos' truth files (default: beside each video, where `synth` writes them).",
)
@pass_runtime
def proving_ground_answer(runtime: Runtime, bundle: Path, truth_dir: Path | None) -> None:
    """Answer a pushed bundle of synthetic videos from their ground truth, as an annotator would (for demos and
    tests of the loop); then `data-engine import-annotations BUNDLE` brings the answers in."""
    from data_engine.experiments.proving_ground import answer_bundle_from_truth_files

    answered = answer_bundle_from_truth_files(runtime.catalog, bundle, truth_dir)
    click.echo(f"answered {answered.frames} frames from the ground truth: {answered.path}")


def _score_triggers(runtime: Runtime, seeds: list[int], folder: Path, seconds: float) -> None:
    from data_engine.experiments.mining_triggers import (
        evaluate_models_on_proving_ground,
        evaluate_proving_ground,
        format_model_table,
        format_table,
    )
    from data_engine.registry import detectors_in_use

    click.echo(format_table(evaluate_proving_ground(seeds, folder / "triggers", seconds=seconds)))
    detectors = detectors_in_use(runtime.catalog, runtime.store, runtime.settings)
    if detectors:
        reference = detectors[1] if len(detectors) > 1 else None
        scores = evaluate_models_on_proving_ground(seeds, folder / "triggers", detectors[0], reference, seconds)
        click.echo(format_model_table(scores))
    else:
        click.echo("no detector configured: model-level triggers not scored (set DATA_ENGINE_DETECTORS)")


@main.command()
@click.argument("sources", nargs=-1, type=click.Path(exists=True))
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
    sources: tuple[str, ...],
    ground_truth: str | None,
    predictions: str | None,
    class_name: str,
    threshold: float,
    min_visibility: float,
    as_json: bool,
) -> None:
    """Measure the engine on labelled footage: videos, folders of frames or MOTChallenge sequences with
    MOTChallenge ground truth (several sequences: one row each and the pooled figures). Raw detections, hindsight
    labels and ByteTrack's tracks (P/R/F1 at IoU 0.5, AP50), tracking quality (HOTA, MOTA, IDF1), and the lift of
    the engine's selection and of each trigger: errors per chosen frame over errors per frame of all frames."""
    from data_engine.evaluation.footage import EvaluationReport, evaluate_footage, evaluate_sequences
    from data_engine.registry import detectors_in_use

    if len(sources) > 1 and (ground_truth or predictions):
        raise click.UsageError("--gt and --predictions score one footage; give one SOURCE with them")
    detectors = [] if predictions else detectors_in_use(runtime.catalog, runtime.store, runtime.settings)

    def say(message: str) -> None:
        click.echo(message, err=True)

    if len(sources) > 1:
        report = evaluate_sequences(
            sources,
            detectors=detectors,
            class_name=class_name,
            threshold=threshold,
            min_visibility=min_visibility,
            progress=say,
        )
    else:
        one = evaluate_footage(
            sources[0] if sources else None,
            ground_truth,
            detectors=detectors,
            predictions=predictions,
            class_name=class_name,
            threshold=threshold,
            min_visibility=min_visibility,
            progress=say,
        )
        report = EvaluationReport((one,), one)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo("\n".join(report.lines()))
