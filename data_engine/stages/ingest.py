"""Ingest: register the videos of a batch (probing the real stream) and cut them into frame-exact clips.

Crash safety: a clip file is written under a temporary name and renamed when complete, its `clip.json`
likewise, and the clip is recorded in the catalog only after both exist. A re-run skips the clips the
catalog has, removes leftover temporary files and redoes the rest, so it converges on the same clips.
Bad files are quarantined with a reason on the video's row; nothing is ever deleted from the inbox.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from data_engine.catalog import BatchItem, Catalog, VideoStatus, clip_id_for
from data_engine.mining.features import FeatureSink, write_features
from data_engine.store import Store, is_temporary
from data_engine.video.clipper import ClipSpan, ExtractedClip, extract_clips, plan_clips
from data_engine.video.probe import VideoError, VideoProbe, probe_video

Progress = Callable[[str], None]


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

    def summary(self) -> dict[str, float | int]:
        return {
            "videos": len(self.videos),
            "clipped": len(self.clipped),
            "quarantined": len(self.quarantined),
            "clips": sum(video.clips_total for video in self.videos),
            "new_clips": sum(video.clips_new for video in self.videos),
            "reencoded_clips": sum(video.reencoded for video in self.videos),
            "frames": sum(video.frames for video in self.videos),
            "hours": round(sum(video.duration_s for video in self.videos) / 3600, 4),
        }


def clip_key(video_id: str, ordinal: int, suffix: str = ".mkv") -> str:
    return f"{clip_folder(video_id)}/{ordinal:05d}/clip{suffix}"


def clip_folder(video_id: str) -> str:
    return f"clips/{video_id}"


def ingest_batch(
    catalog: Catalog,
    store: Store,
    batch_key: str,
    *,
    clip_seconds: float,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> BatchReport:
    """Register, then clip, every distinct video of a batch; a bad file never stops the others."""
    register_batch(catalog, store, batch_key)
    return clip_batch(
        catalog,
        store,
        batch_key,
        clip_seconds=clip_seconds,
        run_id=run_id,
        progress=progress,
    )


def register_batch(catalog: Catalog, store: Store, batch_key: str, progress: Progress | None = None) -> BatchReport:
    """Probe every distinct video of a batch and record it: registered, or quarantined with the reason."""
    report = BatchReport(batch_key)
    for video_id, items in _batch_videos(catalog, batch_key).items():
        register_video(
            catalog,
            store,
            video_id,
            [item.source_uri for item in items],
            items[0].size_bytes,
            batch_key,
        )
        report.videos.append(_outcome(catalog, video_id, clips_new=0))
        if progress is not None:
            progress(video_id)
    return report


def clip_batch(
    catalog: Catalog,
    store: Store,
    batch_key: str,
    *,
    clip_seconds: float,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> BatchReport:
    """Cut every registered video of a batch into clips (videos already clipped are left as they are)."""
    report = BatchReport(batch_key)
    for video_id in _batch_videos(catalog, batch_key):
        new_clips = 0
        video = catalog.get_video(video_id)
        if video is not None and video.status == VideoStatus.REGISTERED:
            try:
                new_clips = _clip_video(catalog, store, video_id, video.source_uri, clip_seconds, run_id)
                catalog.update_video(video_id, status=VideoStatus.CLIPPED)
            except (VideoError, OSError, ValueError) as error:
                catalog.update_video(
                    video_id,
                    status=VideoStatus.QUARANTINED,
                    error=f"clip extraction failed: {error}",
                )
        report.videos.append(_outcome(catalog, video_id, clips_new=new_clips))
        if progress is not None:
            progress(video_id)
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

    The probe's decoding pass also computes the video's mining features (`video_features_key`), so that mining
    does not decode the clips again."""
    existing = catalog.get_video(video_id)
    if existing is not None and (existing.status != VideoStatus.REGISTERED or store.exists(probe_key(video_id))):
        for source in sources:
            catalog.register_video(video_id, source, size_bytes=size_bytes, status=existing.status)
        return
    try:
        with FeatureSink() as features:
            probe = probe_video(sources[0], on_frame=features)
            write_features(features.result(), store.local_path(video_features_key(video_id)))
    except VideoError as error:
        for source in sources:
            catalog.register_video(
                video_id,
                source,
                size_bytes=size_bytes,
                batch_key=batch_key,
                status=VideoStatus.QUARANTINED,
                error=str(error),
            )
        return
    store.commit(video_features_key(video_id))
    store.write_text(probe_key(video_id), json.dumps(asdict(probe), indent=2))
    for source in sources:
        catalog.register_video(
            video_id,
            source,
            size_bytes=size_bytes,
            batch_key=batch_key,
            status=VideoStatus.REGISTERED,
            **_probe_columns(probe),
        )


def probe_key(video_id: str) -> str:
    return f"videos/{video_id}/probe.json"


def video_features_key(video_id: str) -> str:
    """The mining features of every frame of the video, computed while probing it."""
    return f"videos/{video_id}/features.parquet"


def load_probe(store: Store, video_id: str) -> VideoProbe:
    document = json.loads(store.fetch(probe_key(video_id)).read_text(encoding="utf-8"))
    return VideoProbe(**{key: tuple(value) if isinstance(value, list) else value for key, value in document.items()})


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
        key = clip_key(video_id, clip.span.ordinal, clip.path.suffix)
        store.commit(key)
        json_key = str(Path(key).with_name("clip.json"))
        store.write_text(
            json_key,
            json.dumps(_clip_document(video_id, source, probe, clip), indent=2),
        )
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

    extract_clips(
        source,
        probe,
        todo,
        lambda span: store.local_path(clip_key(video_id, span.ordinal)),
        on_clip=record,
    )
    return len(todo)


def remove_temporary_files(folder: Path) -> int:
    """Delete leftovers of interrupted atomic writes below folder."""
    removed = 0
    if folder.is_dir():
        for path in folder.rglob(".*"):
            if path.is_file() and is_temporary(path.name):
                path.unlink()
                removed += 1
    return removed


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
        "fps": probe.fps,
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
