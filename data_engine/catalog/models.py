"""The catalog schema: videos, their clips and every clip's append-only history."""

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Timestamped:
    """A row that changes after it is written: when it was created and when it last changed (the migrations'
    `timestamps()`)."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EventLog:
    """The columns every append-only log shares (a clip's history, the registry's log): an id that only grows,
    the event's detail, and when it happened."""

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunWritten:
    """The columns of a row a stage's run wrote: which run (None outside one) and when."""

    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Batch(Base):
    """An ingest batch: the unit of Dagster partitioning (one dynamic partition per batch)."""

    __tablename__ = "batches"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    origin: Mapped[str] = mapped_column(String(32))


class BatchItem(Base):
    """One inbox file of a batch; several files may share a content hash (the same video twice)."""

    __tablename__ = "batch_items"

    batch_key: Mapped[str] = mapped_column(ForeignKey("batches.key"), primary_key=True)
    source_uri: Mapped[str] = mapped_column(Text, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)


class InboxFile(Base):
    """What the inbox watcher has already seen, so a tick hashes only new or changed files."""

    __tablename__ = "inbox_files"

    source_uri: Mapped[str] = mapped_column(Text, primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    batch_key: Mapped[str | None] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Video(Timestamped, Base):
    __tablename__ = "videos"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_uri: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    batch_key: Mapped[str | None] = mapped_column(ForeignKey("batches.key"), index=True)
    container: Mapped[str | None] = mapped_column(String(64))
    codec: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    fps: Mapped[float | None] = mapped_column(Float)
    fps_min: Mapped[float | None] = mapped_column(Float)
    fps_max: Mapped[float | None] = mapped_column(Float)
    frames: Mapped[int | None] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float)
    header_fps: Mapped[float | None] = mapped_column(Float)
    header_frames: Mapped[int | None] = mapped_column(Integer)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()


class VideoSource(Base):
    """Every name a video arrived under (the same content uploaded twice is one video)."""

    __tablename__ = "video_sources"

    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id"), primary_key=True)
    source_uri: Mapped[str] = mapped_column(Text, primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Clip(Timestamped, Base):
    __tablename__ = "clips"
    __table_args__ = (
        UniqueConstraint("video_id", "ordinal"),
        Index("ix_clips_status_lease", "status", "lease_until"),
        Index("ix_clips_status_updated", "status", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id"))
    ordinal: Mapped[int] = mapped_column(Integer)
    first_frame: Mapped[int] = mapped_column(Integer)
    last_frame: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    path: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column()


class ClipEvent(EventLog, Base):
    """Append-only history of a clip: its current state is the to_state of its newest event."""

    __tablename__ = "clip_events"

    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[str | None] = mapped_column(String(64))


class TriggerHit(RunWritten, Base):
    """A mining trigger fired on a frame range of a clip."""

    __tablename__ = "trigger_hits"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(64), index=True)
    first_frame: Mapped[int] = mapped_column(Integer)
    last_frame: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SelectedFrame(RunWritten, Base):
    """A frame chosen for annotation, with the reasons it was chosen and its perceptual hash."""

    __tablename__ = "selected_frames"

    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), primary_key=True)
    frame: Mapped[int] = mapped_column(Integer, primary_key=True)
    phash: Mapped[int] = mapped_column(BigInteger)
    reasons: Mapped[dict[str, Any]] = mapped_column(default=dict)
    budget_day: Mapped[str] = mapped_column(String(10), index=True)


class LabelVersion(Base):
    """One version of a clip's label file (autolabel or human review); files are never overwritten."""

    __tablename__ = "label_versions"

    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    models: Mapped[dict[str, Any]] = mapped_column(default=dict)
    author: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnnotationRunRecord(Timestamped, Base):
    """A push to an annotation platform: the serialised run record that a pull reads back. `pushing` while its
    `owner` (host:pid) sends it, `pushed` once complete, `done` when every frame is answered (`closed_at`); `lost`
    when the platform no longer has it (its project was deleted), and `replaced` (`closed_at`) once its frames
    were pushed again as another run (the record's `lost` and `replaced` entries say why, when, and by which)."""

    __tablename__ = "annotation_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    backend: Mapped[str] = mapped_column(String(32))
    project: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    record: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner: Mapped[str | None] = mapped_column(String(128))
    closed_at: Mapped[datetime | None] = mapped_column()


class PushedFrame(Base):
    """A frame claimed for one push to a platform: the primary key makes "pushed to a platform at most once" a
    rule of the database, whatever the number of concurrent runs or crashes."""

    __tablename__ = "pushed_frames"

    platform: Mapped[str] = mapped_column(String(200), primary_key=True)
    frame_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    frame: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnnotationImport(Timestamped, Base):
    """One import of reviews (a pull or a file import) into label versions: which version each clip got and which
    it was based on, so that it can be undone (`status` imported / undone)."""

    __tablename__ = "annotation_imports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    record: Mapped[dict[str, Any]] = mapped_column(default=dict)
