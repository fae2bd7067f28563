"""Read-only views of the catalog: `status`, `videos`, `clips`, `clip show`, `triggers`.

These answer at once: nothing here imports a stage, pandas or OpenCV (the catalog opens on first use).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from typing import TypeVar

import click

from data_engine.catalog.states import ClipState, VideoStatus
from data_engine.cli.output import pass_runtime, print_rows, utc_iso
from data_engine.runtime import Runtime

Command = TypeVar("Command", bound=Callable[..., None])


def listing_options(noun: str, states: type[Enum], word: str) -> Callable[[Command], Command]:
    """The options of a listing of `noun`s: `--json` (one object per row) and `--status` (one of `states`)."""

    def decorate(command: Command) -> Command:
        choice = click.Choice([state.value for state in states])
        command = click.option("--status", "status_filter", type=choice, help=f"Only {noun}s in this {word}.")(command)
        return click.option("--json", "as_json", is_flag=True, help=f"One JSON object per {noun}.")(command)

    return decorate


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_runtime
def status(runtime: Runtime, as_json: bool) -> None:
    """Counts of videos and clips per status, and the oldest clip waiting in each state."""
    counts = runtime.catalog.status_counts()
    waiting = {state: utc_iso(moment) for state, moment in runtime.catalog.oldest_waiting().items()}
    if as_json:
        click.echo(json.dumps({**counts, "oldest_waiting": waiting}, indent=2))
        return
    click.echo(f"catalog: {runtime.catalog.url}")
    for kind in ("videos", "clips"):
        click.echo(f"{kind}:")
        for state, count in counts[kind].items():
            since = f"  (oldest since {waiting[state]})" if kind == "clips" and state in waiting else ""
            click.echo(f"  {state:<13}{count:>8}{since}")


@click.command()
@listing_options("video", VideoStatus, "status")
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
    print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['id'][:12]}  {r['status']:<12} {r['frames'] or '-':>7} frames  "
            f"{r['fps'] or '-':>6} fps  {r['source']}" + (f"  ({r['error']})" if r["error"] else "")
        ),
    )


@click.command()
@listing_options("clip", ClipState, "state")
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
    print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['id']}  {r['status']:<12} video frames {r['first_video_frame']}-{r['last_video_frame']}"
            f"  {r['start_s']:.2f}-{r['end_s']:.2f} s"
        ),
    )


@click.group()
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
            "time": utc_iso(event.created_at),
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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit.")
@click.option("--batch", "batch_key", default=None)
@pass_runtime
def triggers(runtime: Runtime, as_json: bool, batch_key: str | None) -> None:
    """Trigger hits: which frames of which clips the triggers flagged, and how strongly. Frames are numbered
    within the clip (`*_clip_frame`) and within its video (`*_video_frame`)."""
    first_frame = clip_first_frames(runtime, batch_key)
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
    print_rows(
        rows,
        as_json,
        lambda r: (
            f"{r['clip_id']}  {r['trigger']:<22} clip frames {r['first_clip_frame']}-{r['last_clip_frame']} "
            f"(video {r['first_video_frame']}-{r['last_video_frame']})  score {r['score']:.2f}"
        ),
    )


def clip_first_frames(runtime: Runtime, batch_key: str | None) -> dict[str, int]:
    """Each clip's first frame in its video, to number a clip's frames within the video too."""
    return {clip.id: clip.first_frame for clip in runtime.catalog.clips(batch_key=batch_key)}
