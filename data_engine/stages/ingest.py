"""Ingest: register the videos of a batch (probing the real stream) and cut them into frame-exact clips.

Crash safety: a clip file is written under a temporary name and renamed when complete, its `clip.json`
likewise, and the clip is recorded in the catalog only after both exist. A re-run skips the clips the
catalog has, removes the leftover temporary files of dead writers and redoes the rest, so it converges on the
same clips; two runs clipping the same video at once each write their own temporary files and the first
record of a clip wins. Bad files (the input's fault) are quarantined with a reason on the video's row; a
passing fault of the world (disk full, read-only store, permissions, network) marks the video `failed` with
its attempt count and next attempt time instead, and a later run takes it again (docs/reliability.md).
Nothing is ever deleted from the inbox.

`ingest` is the stage as every surface runs it (`data-engine ingest` and `run`, the main job, the inbox sensor,
the proving ground): look at the inbox and the given paths, record new settled videos as batches, ingest the
batches still pending.
"""

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from data_engine.catalog import BatchItem, Catalog, CatalogError, VideoStatus, clip_id_for
from data_engine.context import StageContext
from data_engine.faults import crash_point
from data_engine.inbox import InboxEntry, InboxLook, file_entries, plan_batches, scan_inbox, settled_entries
from data_engine.layout import clip_document_key, clip_folder, clip_key, probe_key, video_features_key
from data_engine.progress import Progress, tracked
from data_engine.settings import Settings
from data_engine.store import Store, content_hash, remove_stale_temporaries
from data_engine.video.clipper import ClipSpan, ExtractedClip, extract_clips, plan_clips
from data_engine.video.feature_table import write_table
from data_engine.video.luma_features import FeatureSink
from data_engine.video.probe import VideoError, VideoProbe, probe_video


@dataclass(frozen=True)
class VideoOutcome:
    """What ingest did with one distinct video of a batch."""

    video_id: str
    sources: tuple[str, ...]
    status: str
    error: str | None = None
    frames: int = 0
    duration_s: float = 0.0
    clips_total: int = 0
    clips_new: int = 0
    reencoded: int = 0


@dataclass
class BatchReport:
    batch_key: str
    videos: list[VideoOutcome] = field(default_factory=list)

    @property
    def quarantined(self) -> list[VideoOutcome]:
        return [video for video in self.videos if video.status == VideoStatus.QUARANTINED]

    @property
    def clipped(self) -> list[VideoOutcome]:
        return [video for video in self.videos if video.status == VideoStatus.CLIPPED]

    @property
    def failed(self) -> list[VideoOutcome]:
        """Videos a passing fault stopped; the next run takes them again."""
        return [video for video in self.videos if video.status == VideoStatus.FAILED]

    def summary(self) -> dict[str, float | int]:
        return {
            "videos": len(self.videos),
            "clipped": len(self.clipped),
            "quarantined": len(self.quarantined),
            "failed": len(self.failed),
            "clips": sum(video.clips_total for video in self.videos),
            "new_clips": sum(video.clips_new for video in self.videos),
            "reencoded_clips": sum(video.reencoded for video in self.videos),
            "frames": sum(video.frames for video in self.videos),
            "hours": round(sum(video.duration_s for video in self.videos) / 3600, 4),
        }


def ingest_batch(context: StageContext, batch_key: str) -> BatchReport:
    """Register, then clip, every distinct video of a batch; a bad file never stops the others."""
    register_batch(context, batch_key)
    return clip_batch(context, batch_key)


def register_batch(context: StageContext, batch_key: str) -> BatchReport:
    """Probe every distinct video of a batch and record it: registered, or quarantined with the reason."""
    catalog, store = context.catalog, context.store
    report = BatchReport(batch_key)
    batch_videos = list(_batch_videos(catalog, batch_key).items())
    for video_id, items in tracked(batch_videos, f"probe {batch_key}", context.progress):
        sources = [item.source_uri for item in items]
        try:
            register_video(catalog, store, video_id, sources, items[0].size_bytes, batch_key)
        except CatalogError:
            raise
        except WORLD_FAULTS as error:
            reason = f"registration failed: {_fault(error, store)}"
            _fail(catalog, video_id, sources, items[0].size_bytes, batch_key, reason)
        report.videos.append(_outcome(catalog, video_id, clips_new=0))
    return report


def clip_batch(context: StageContext, batch_key: str) -> BatchReport:
    """Cut every registered video of a batch into clips (videos already clipped are left as they are)."""
    catalog, store, clip_seconds = context.catalog, context.store, context.settings.clip_seconds
    report = BatchReport(batch_key)
    for video_id in tracked(list(_batch_videos(catalog, batch_key)), f"clip {batch_key}", context.progress):
        new_clips = 0
        video = catalog.get_video(video_id)
        if video is not None and video.status == VideoStatus.REGISTERED:
            try:
                new_clips = _clip_video(catalog, store, video_id, video.source_uri, clip_seconds, context.run_id)
                catalog.update_video(video_id, status=VideoStatus.CLIPPED, next_attempt_at=None)
                crash_point("ingest.video_clipped")
            except VideoError as error:
                catalog.quarantine_video(video_id, f"clip extraction failed: {error}")
            except CatalogError:
                raise
            except WORLD_FAULTS as error:
                catalog.fail_video(video_id, f"clip extraction failed: {_fault(error, store)}")
        report.videos.append(_outcome(catalog, video_id, clips_new=new_clips))
    return report


def register_video(
    catalog: Catalog,
    store: Store,
    video_id: str,
    sources: Sequence[str],
    size_bytes: int,
    batch_key: str,
) -> None:
    """Probe one video and record it under all its source names (idempotent: a known video only gains names).

    A failed video whose next attempt is due is probed again, or only moved back to `registered` when its probe
    was already stored (the fault came later, while clipping).

    The probe's decoding pass also computes the video's mining features (`video_features_key`), so that mining
    does not decode the clips again."""
    existing = catalog.get_video(video_id)
    if existing is not None and existing.status == VideoStatus.FAILED:
        if not _due(existing.next_attempt_at):
            return
        if store.exists(probe_key(video_id)):
            catalog.update_video(video_id, status=VideoStatus.REGISTERED, **_probe_columns(load_probe(store, video_id)))
            existing = catalog.get_video(video_id)
    if (
        existing is not None
        and existing.status != VideoStatus.FAILED
        and (existing.status != VideoStatus.REGISTERED or store.exists(probe_key(video_id)))
    ):
        _register_sources(catalog, video_id, sources, size_bytes=size_bytes, status=existing.status)
        return
    try:
        with FeatureSink() as features:
            probe = probe_video(sources[0], on_frame=features)
            write_table(features.table(), store.local_path(video_features_key(video_id)))
    except VideoError as error:
        quarantined = {"status": VideoStatus.QUARANTINED, "error": str(error)}
        _register_sources(catalog, video_id, sources, size_bytes=size_bytes, batch_key=batch_key, **quarantined)
        catalog.quarantine_video(video_id, str(error))
        return
    store.commit(video_features_key(video_id))
    store.write_text(probe_key(video_id), json.dumps(asdict(probe), indent=2))
    crash_point("ingest.probe_written")
    registered = {"status": VideoStatus.REGISTERED, **_probe_columns(probe)}
    _register_sources(catalog, video_id, sources, size_bytes=size_bytes, batch_key=batch_key, **registered)
    if existing is not None:
        catalog.update_video(video_id, **registered)
    crash_point("ingest.video_registered")


WORLD_FAULTS: tuple[type[Exception], ...] = (OSError, ValueError, RuntimeError)
"""What a video's processing may raise that is not the input's fault (disk full, read-only store, permissions,
network, a codec the store's container cannot hold): the video becomes `failed` and is retried with backoff.
The input's faults are VideoError (quarantine); CatalogError stops the run (nothing can be recorded)."""


def _fail(catalog: Catalog, video_id: str, sources: Sequence[str], size_bytes: int, batch_key: str, error: str) -> None:
    """Record a passing fault on a video, creating its row when registration did not get that far."""
    _register_sources(catalog, video_id, sources, size_bytes=size_bytes, batch_key=batch_key, status=VideoStatus.FAILED)
    catalog.fail_video(video_id, error)


def _register_sources(catalog: Catalog, video_id: str, sources: Sequence[str], **columns: Any) -> None:
    """Record the video under each of its source names, with the same columns."""
    for source in sources:
        catalog.register_video(video_id, source, **columns)


def _fault(error: Exception, store: Store) -> str:
    """The error, naming the setting to look at when it happened in the store."""
    where = getattr(error, "filename", None)
    if store.is_local and where and str(where).startswith(store.root):
        return f"{error} (in the store, DATA_ENGINE_STORE={store.root})"
    return str(error)


def _due(moment: datetime | None) -> bool:
    if moment is None:
        return True
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware <= datetime.now(UTC)


def load_probe(store: Store, video_id: str) -> VideoProbe:
    document = json.loads(store.fetch(probe_key(video_id)).read_text(encoding="utf-8"))
    return VideoProbe.from_json(document)


def _batch_videos(catalog: Catalog, batch_key: str) -> dict[str, list[BatchItem]]:
    groups: dict[str, list[BatchItem]] = {}
    for item in catalog.batch_items(batch_key):
        groups.setdefault(item.content_hash, []).append(item)
    return groups


def _clip_video(
    catalog: Catalog,
    store: Store,
    video_id: str,
    source: str,
    clip_seconds: float,
    run_id: str | None,
) -> int:
    probe = load_probe(store, video_id)
    spans = plan_clips(probe, clip_seconds)
    recorded = {clip.ordinal for clip in catalog.clips(video_id=video_id)}
    remove_temporary_files(store.local_path(clip_folder(video_id)))
    todo = [span for span in spans if span.ordinal not in recorded]
    if not todo:
        return 0

    def record(clip: ExtractedClip) -> None:
        crash_point("ingest.clip_file_written")
        key = clip_key(video_id, clip.span.ordinal, clip.path.suffix)
        store.commit(key)
        crash_point("ingest.clip_file_published")
        store.write_text(
            clip_document_key(key),
            json.dumps(_clip_document(video_id, source, probe, clip), indent=2),
        )
        crash_point("ingest.clip_json_written")
        catalog.add_clip(
            video_id=video_id,
            ordinal=clip.span.ordinal,
            first_frame=clip.span.first_frame,
            last_frame=clip.span.last_frame,
            start_s=clip.span.start_s,
            end_s=clip.span.end_s,
            path=key,
            method=clip.method,
            run_id=run_id,
            detail={
                "method": clip.method,
                "frames": clip.frames,
                "size_bytes": clip.size_bytes,
            },
        )
        crash_point("ingest.clip_recorded")

    extract_clips(
        source,
        probe,
        todo,
        lambda span: store.local_path(clip_key(video_id, span.ordinal)),
        on_clip=record,
    )
    return len(todo)


def remove_temporary_files(folder: Path) -> int:
    """Delete the leftovers of interrupted writes below folder (never the files of a writer still at work)."""
    return remove_stale_temporaries(folder)


def _clip_document(video_id: str, source: str, probe: VideoProbe, clip: ExtractedClip) -> dict[str, object]:
    span: ClipSpan = clip.span
    return {
        "schema": "data-engine/clip",
        "version": 1,
        "clip_id": clip_id_for(video_id, span.ordinal),
        "video_id": video_id,
        "source": source,
        "ordinal": span.ordinal,
        **{key: value for key, value in asdict(span).items() if key != "ordinal"},
        "frames": span.last_frame - span.first_frame + 1,
        "fps": probe.fps,
        "width": probe.width,
        "height": probe.height,
        "rotation": probe.rotation,
        "codec": probe.codec,
        "method": clip.method,
        "created_at": datetime.now(UTC).isoformat(),
    }


def _probe_columns(probe: VideoProbe) -> dict[str, object]:
    error = None
    if probe.truncated:
        error = (
            f"truncated: kept the first {probe.frames} decodable frames ({probe.decode_error or 'stream ends early'})"
        )
    return {
        "container": probe.container,
        "codec": probe.codec,
        "width": probe.width,
        "height": probe.height,
        "rotation": probe.rotation,
        "fps": probe.fps,
        "fps_min": probe.fps_min,
        "fps_max": probe.fps_max,
        "frames": probe.frames,
        "duration_s": probe.duration_s,
        "header_fps": probe.header_fps,
        "header_frames": probe.header_frames,
        "truncated": probe.truncated,
        "error": error,
    }


def _outcome(catalog: Catalog, video_id: str, clips_new: int) -> VideoOutcome:
    video = catalog.get_video(video_id)
    assert video is not None
    clips = catalog.clips(video_id=video_id)
    return VideoOutcome(
        video_id=video_id,
        sources=tuple(catalog.video_sources(video_id)),
        status=video.status,
        error=video.error,
        frames=video.frames or 0,
        duration_s=video.duration_s or 0.0,
        clips_total=len(clips),
        clips_new=clips_new,
        reencoded=sum(1 for clip in clips if clip.method != "copy"),
    )


@dataclass
class IngestReport:
    """What one ingest did: what the look found, the batches it recorded, and each batch it ingested."""

    look: InboxLook
    new_batches: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    batches: list[BatchReport] = field(default_factory=list)


def ingest(
    catalog: Catalog,
    store: Store | None,
    settings: Settings,
    paths: Sequence[str] = (),
    *,
    watch_inbox: bool = True,
    previous: Mapping[str, tuple[int, int]] | None = None,
    origin: str = "cli",
    run_id: str | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Record the new settled videos of the inbox (when `watch_inbox`) and of `paths` as batches, then ingest
    every pending batch (new ones, and ones a crash interrupted).

    Without a store only the batches are recorded and left `pending`: the inbox sensor works that way, and a
    Dagster run per batch ingests it. `previous` holds the (size, mtime) of files still changing at the previous
    look (the sensor's cursor).
    """
    found = {entry.uri: entry for entry in file_entries(paths)}
    if watch_inbox:
        found.update((entry.uri, entry) for entry in scan_inbox(settings.inbox))
    look = look_at_inbox(
        catalog,
        sorted(found.values(), key=lambda entry: entry.uri),
        previous or {},
        settle_seconds=settings.settle_seconds,
        batch_max_videos=settings.batch_max_videos,
        progress=progress,
    )
    report = IngestReport(look)
    for plan in look.batches:
        if catalog.create_batch(plan.key, origin, plan.items):  # False: a concurrent run recorded it first
            report.new_batches.append(plan.key)
    report.pending = catalog.incomplete_batches()
    if store is None:
        return report
    context = StageContext(catalog, store, settings, run_id=run_id, progress=progress)
    for batch_key in report.pending:
        report.batches.append(ingest_batch(context, batch_key))
    report.pending = catalog.incomplete_batches()
    return report


def look_at_inbox(
    catalog: Catalog,
    entries: Iterable[InboxEntry],
    previous: Mapping[str, tuple[int, int]],
    *,
    settle_seconds: float,
    batch_max_videos: int,
    now: float | None = None,
    progress: Progress | None = None,
) -> InboxLook:
    """Decide what is new and settled, hash it, drop content already batched, and plan batches.

    Every file hashed is remembered with its size and mtime, so an unchanged file is never hashed again; a file a
    previous look hashed but did not get to batch (it was interrupted) is planned again without hashing it again.
    An entry that cannot be looked at or read is reported in `skipped`, never stops the others.
    """
    entries = list(entries)
    index = catalog.inbox_index()
    known = {uri: (row.size_bytes, row.mtime_ns) for uri, row in index.items()}
    unbatched = {uri: row.content_hash for uri, row in index.items() if row.batch_key is None}
    batched_before = catalog.batched_hashes(unbatched.values())
    good = [entry for entry in entries if entry.problem is None]
    settled, unsettled = settled_entries(
        good, known, previous, settle_seconds=settle_seconds, now=time.time() if now is None else now
    )
    look = InboxLook(unsettled=unsettled, new_files=len(settled))
    look.skipped = [(entry.uri, entry.problem) for entry in entries if entry.problem is not None]
    hashed = [
        (entry, unbatched[entry.uri])
        for entry in good
        if known.get(entry.uri) == (entry.size, entry.mtime_ns)
        and entry.uri in unbatched
        and unbatched[entry.uri] not in batched_before
    ]
    for entry in tracked(settled, "hashing", progress):
        try:
            hashed.append((entry, content_hash(entry.uri)))
        except OSError as error:
            look.skipped.append((entry.uri, f"cannot read it: {error}"))
    already_batched = catalog.batched_hashes(digest for _, digest in hashed)
    look.duplicates = [(entry.uri, digest) for entry, digest in hashed if digest in already_batched]
    catalog.remember_inbox_files(
        [
            {"source_uri": entry.uri, "size_bytes": entry.size, "mtime_ns": entry.mtime_ns, "content_hash": digest}
            for entry, digest in hashed
        ]
    )
    crash_point("inbox.files_remembered")
    fresh = [(entry, digest) for entry, digest in hashed if digest not in already_batched]
    look.batches = plan_batches(fresh, batch_max_videos)
    return look


def failures_waiting(catalog: Catalog) -> list[str]:
    """One line per failed video whose next attempt is not due yet, so a run that skipped it says so."""
    return [
        f"video {video.id[:12]} ({video.source_uri}) failed {video.attempts} time(s) ({video.error}); next attempt "
        f"after {video.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC, or now with `data-engine retry --video {video.id}`"
        for video in catalog.videos(status=VideoStatus.FAILED)
        if video.next_attempt_at is not None and not _due(video.next_attempt_at)
    ]
