"""The catalog: the source of truth for per-video and per-clip state (SQLite or PostgreSQL)."""

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from data_engine.catalog.models import (
    AnnotationRunRecord,
    Batch,
    BatchItem,
    Clip,
    ClipEvent,
    InboxFile,
    LabelVersion,
    SelectedFrame,
    TriggerHit,
    Video,
    VideoSource,
    utcnow,
)
from data_engine.catalog.states import ClipState, VideoStatus, check_transition

MIGRATIONS = Path(__file__).parent / "migrations"


class CatalogError(RuntimeError):
    """The catalog cannot be reached or used; the message says which setting to look at."""


def clip_id_for(video_id: str, ordinal: int) -> str:
    """Deterministic clip id, so a re-run after a crash finds the same clips."""
    return f"{video_id[:16]}-{ordinal:05d}"


class Catalog:
    """Typed access to the catalog tables; every write is one short transaction."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as error:
            raise CatalogError(f"DATA_ENGINE_CATALOG_URL is not a valid SQLAlchemy URL: {url!r}") from error
        self.url = parsed.render_as_string(hide_password=True)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(parsed, pool_pre_ping=True)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.migrate()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._sessions.begin() as session:
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (a no-op when it is current)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(config).get_current_head()
        try:
            with self.engine.begin() as connection:
                if MigrationContext.configure(connection).get_current_revision() == head:
                    return
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as error:
            raise CatalogError(f"cannot open the catalog at {self.url}: {error.orig}") from error

    def schema_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def dispose(self) -> None:
        self.engine.dispose()

    # Inbox and batches

    def inbox_index(self) -> dict[str, InboxFile]:
        """Every inbox file seen so far, by URI."""
        with self.session() as session:
            return {row.source_uri: row for row in session.scalars(select(InboxFile))}

    def remember_inbox_files(self, files: Sequence[dict[str, Any]]) -> None:
        """Upsert what the watcher learned about inbox files (uri, size, mtime, hash, batch)."""
        if not files:
            return
        with self.session() as session:
            for values in files:
                session.merge(InboxFile(**values))

    def create_batch(self, key: str, origin: str, items: Sequence[tuple[str, str, int]]) -> bool:
        """Record a batch of (source uri, content hash, size); False when it already existed."""
        with self.session() as session:
            if session.get(Batch, key) is not None:
                return False
            session.add(Batch(key=key, origin=origin))
            session.flush()
            session.execute(
                insert(BatchItem),
                [
                    {"batch_key": key, "source_uri": uri, "content_hash": digest, "size_bytes": size}
                    for uri, digest, size in items
                ],
            )
            session.execute(
                update(InboxFile).where(InboxFile.source_uri.in_([i[0] for i in items])).values(batch_key=key)
            )
        return True

    def batch_items(self, key: str) -> list[BatchItem]:
        with self.session() as session:
            return list(
                session.scalars(select(BatchItem).where(BatchItem.batch_key == key).order_by(BatchItem.source_uri))
            )

    def batch_keys(self) -> list[str]:
        with self.session() as session:
            return list(session.scalars(select(Batch.key).order_by(Batch.created_at, Batch.key)))

    def incomplete_batches(self) -> list[str]:
        """Batches with a video not yet clipped or quarantined (new, or interrupted by a crash)."""
        query = (
            select(BatchItem.batch_key)
            .outerjoin(Video, Video.id == BatchItem.content_hash)
            .where((Video.id.is_(None)) | (Video.status == VideoStatus.REGISTERED))
            .distinct()
            .order_by(BatchItem.batch_key)
        )
        with self.session() as session:
            return list(session.scalars(query))

    def batched_hashes(self, hashes: Iterable[str]) -> set[str]:
        """The content hashes that already belong to a batch (so they are not batched twice)."""
        wanted = list(set(hashes))
        found: set[str] = set()
        with self.session() as session:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                found.update(session.scalars(select(BatchItem.content_hash).where(BatchItem.content_hash.in_(chunk))))
        return found

    # Videos

    def get_video(self, video_id: str) -> Video | None:
        with self.session() as session:
            return session.get(Video, video_id)

    def register_video(self, video_id: str, source_uri: str, **fields: Any) -> tuple[Video, bool]:
        """Insert a video (or add another source name to an existing one); True when it is new."""
        with self.session() as session:
            existing = session.get(Video, video_id)
            if existing is None:
                existing = Video(id=video_id, source_uri=source_uri, **fields)
                session.add(existing)
                created = True
            else:
                created = False
            session.flush()
            if session.get(VideoSource, (video_id, source_uri)) is None:
                session.add(VideoSource(video_id=video_id, source_uri=source_uri))
            return existing, created

    def update_video(self, video_id: str, **fields: Any) -> None:
        with self.session() as session:
            session.execute(update(Video).where(Video.id == video_id).values(updated_at=utcnow(), **fields))

    def video_sources(self, video_id: str) -> list[str]:
        with self.session() as session:
            query = select(VideoSource.source_uri).where(VideoSource.video_id == video_id)
            return list(session.scalars(query.order_by(VideoSource.seen_at)))

    def videos(self, batch_key: str | None = None, status: str | None = None) -> list[Video]:
        query = select(Video).order_by(Video.created_at, Video.id)
        if batch_key is not None:
            query = query.where(Video.batch_key == batch_key)
        if status is not None:
            query = query.where(Video.status == status)
        with self.session() as session:
            return list(session.scalars(query))

    # Clips

    def add_clip(self, *, run_id: str | None = None, detail: dict[str, Any] | None = None, **fields: Any) -> Clip:
        """Record a finished clip file and its creation event in one transaction (idempotent by clip id)."""
        clip_id = clip_id_for(fields["video_id"], fields["ordinal"])
        try:
            with self.session() as session:
                existing = session.get(Clip, clip_id)
                if existing is not None:
                    return existing
                clip = Clip(id=clip_id, status=ClipState.EXTRACTED, attempts=0, **fields)
                session.add(clip)
                session.flush()
                session.add(
                    ClipEvent(
                        clip_id=clip_id,
                        stage="extract",
                        from_state=None,
                        to_state=ClipState.EXTRACTED,
                        run_id=run_id,
                        detail=detail or {},
                    )
                )
                return clip
        except IntegrityError:
            existing = self.get_clip(clip_id)
            if existing is None:
                raise
            return existing

    def get_clip(self, clip_id: str) -> Clip | None:
        with self.session() as session:
            return session.get(Clip, clip_id)

    def clips(self, video_id: str | None = None, batch_key: str | None = None, status: str | None = None) -> list[Clip]:
        query = select(Clip).order_by(Clip.video_id, Clip.ordinal)
        if video_id is not None:
            query = query.where(Clip.video_id == video_id)
        if batch_key is not None:
            query = query.join(Video, Video.id == Clip.video_id).where(Video.batch_key == batch_key)
        if status is not None:
            query = query.where(Clip.status == status)
        with self.session() as session:
            return list(session.scalars(query))

    def transition(
        self,
        clip_ids: Sequence[str],
        target: ClipState,
        *,
        stage: str,
        run_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Move clips to `target`, appending one event each; clips already there are left alone."""
        moved = 0
        with self.session() as session:
            for start in range(0, len(clip_ids), 500):
                chunk = list(clip_ids[start : start + 500])
                current = dict(session.execute(select(Clip.id, Clip.status).where(Clip.id.in_(chunk))).all())
                missing = set(chunk) - current.keys()
                if missing:
                    raise KeyError(f"unknown clip ids: {sorted(missing)[:5]}")
                to_move = [cid for cid in chunk if current[cid] != target]
                for cid in to_move:
                    check_transition(ClipState(current[cid]), target)
                if not to_move:
                    continue
                values: dict[str, Any] = {
                    "status": target,
                    "updated_at": utcnow(),
                    "claimed_by": None,
                    "lease_until": None,
                }
                if target is ClipState.FAILED:
                    values["attempts"] = Clip.attempts + 1
                session.execute(update(Clip).where(Clip.id.in_(to_move)).values(**values))
                session.execute(
                    insert(ClipEvent),
                    [
                        {
                            "clip_id": cid,
                            "stage": stage,
                            "from_state": current[cid],
                            "to_state": target,
                            "run_id": run_id,
                            "detail": detail or {},
                            "created_at": utcnow(),
                        }
                        for cid in to_move
                    ],
                )
                moved += len(to_move)
        return moved

    def claim(self, status: ClipState, worker: str, limit: int, lease_seconds: float = 600.0) -> list[Clip]:
        """Lease up to `limit` clips in `status` that nobody holds (or whose lease expired) to `worker`.

        PostgreSQL skips rows other transactions have locked (FOR UPDATE SKIP LOCKED); SQLite serialises
        writers, so the single UPDATE ... RETURNING is already exclusive. Either way two workers never get
        the same clip, and a crashed worker's clips come back when their lease runs out.
        """
        now = utcnow()
        free = (
            select(Clip.id)
            .where(Clip.status == status, (Clip.lease_until.is_(None)) | (Clip.lease_until < now))
            .order_by(Clip.id)
            .limit(limit)
        )
        if not self.is_sqlite:
            free = free.with_for_update(skip_locked=True)
        claim = (
            update(Clip)
            .where(Clip.id.in_(free.scalar_subquery()))
            .values(claimed_by=worker, lease_until=now + timedelta(seconds=lease_seconds))
            .returning(Clip)
        )
        with self.session() as session:
            return sorted(session.scalars(claim, execution_options={"synchronize_session": False}), key=_by_id)

    def release(self, clip_ids: Sequence[str], worker: str) -> None:
        """Give back leases without a state change (work abandoned cleanly)."""
        with self.session() as session:
            session.execute(
                update(Clip)
                .where(Clip.id.in_(list(clip_ids)), Clip.claimed_by == worker)
                .values(claimed_by=None, lease_until=None)
            )

    def record(
        self, clip_id: str, *, stage: str, run_id: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        """Append an event that leaves the clip's state as it is (work redone on a clip already past the stage,
        such as a forced autolabel), so that its journey shows it."""
        with self.session() as session:
            clip = session.get(Clip, clip_id)
            if clip is None:
                raise KeyError(f"unknown clip id {clip_id!r}")
            session.add(
                ClipEvent(
                    clip_id=clip_id,
                    stage=stage,
                    from_state=clip.status,
                    to_state=clip.status,
                    run_id=run_id,
                    detail=detail or {},
                )
            )

    def history(self, clip_id: str) -> list[ClipEvent]:
        with self.session() as session:
            query = select(ClipEvent).where(ClipEvent.clip_id == clip_id).order_by(ClipEvent.id)
            return list(session.scalars(query))

    # Mining

    def replace_hits(self, clip_id: str, hits: Sequence[dict[str, Any]], run_id: str | None = None) -> None:
        """Record a clip's trigger hits, replacing those of an earlier mining of the same clip."""
        with self.session() as session:
            session.execute(delete(TriggerHit).where(TriggerHit.clip_id == clip_id))
            if hits:
                session.execute(
                    insert(TriggerHit),
                    [{"clip_id": clip_id, "run_id": run_id, "created_at": utcnow(), **hit} for hit in hits],
                )

    def hits(self, clip_id: str | None = None, batch_key: str | None = None) -> list[TriggerHit]:
        query = select(TriggerHit).order_by(TriggerHit.clip_id, TriggerHit.first_frame, TriggerHit.trigger)
        if clip_id is not None:
            query = query.where(TriggerHit.clip_id == clip_id)
        if batch_key is not None:
            query = (
                query.join(Clip, Clip.id == TriggerHit.clip_id)
                .join(Video, Video.id == Clip.video_id)
                .where(Video.batch_key == batch_key)
            )
        with self.session() as session:
            return list(session.scalars(query))

    def add_selected_frames(self, rows: Sequence[dict[str, Any]], run_id: str | None = None) -> int:
        """Record selected frames (clip_id, frame, phash, reasons, budget_day); frames already selected stay."""
        if not rows:
            return 0
        with self.session() as session:
            keys = {(row["clip_id"], row["frame"]) for row in rows}
            clip_ids = list({clip_id for clip_id, _ in keys})
            existing = set(
                session.execute(
                    select(SelectedFrame.clip_id, SelectedFrame.frame).where(SelectedFrame.clip_id.in_(clip_ids))
                ).all()
            )
            fresh = [
                {**row, "phash": to_signed64(row["phash"]), "run_id": run_id, "created_at": utcnow()}
                for row in rows
                if (row["clip_id"], row["frame"]) not in existing
            ]
            if fresh:
                session.execute(insert(SelectedFrame), fresh)
            return len(fresh)

    def selected_frames(
        self, batch_key: str | None = None, budget_day: str | None = None, clip_id: str | None = None
    ) -> list[SelectedFrame]:
        query = select(SelectedFrame).order_by(SelectedFrame.clip_id, SelectedFrame.frame)
        if budget_day is not None:
            query = query.where(SelectedFrame.budget_day == budget_day)
        if clip_id is not None:
            query = query.where(SelectedFrame.clip_id == clip_id)
        if batch_key is not None:
            query = (
                query.join(Clip, Clip.id == SelectedFrame.clip_id)
                .join(Video, Video.id == Clip.video_id)
                .where(Video.batch_key == batch_key)
            )
        with self.session() as session:
            rows = list(session.scalars(query))
        for row in rows:
            row.phash = from_signed64(row.phash)
        return rows

    def selected_count(self, budget_day: str) -> int:
        with self.session() as session:
            query = select(func.count()).select_from(SelectedFrame).where(SelectedFrame.budget_day == budget_day)
            return int(session.scalar(query) or 0)

    # Labels and annotation runs

    def add_label_version(self, clip_id: str, version: int, **fields: Any) -> LabelVersion:
        with self.session() as session:
            existing = session.get(LabelVersion, (clip_id, version))
            if existing is not None:
                return existing
            row = LabelVersion(clip_id=clip_id, version=version, **fields)
            session.add(row)
            return row

    def label_versions(self, clip_id: str) -> list[LabelVersion]:
        with self.session() as session:
            query = select(LabelVersion).where(LabelVersion.clip_id == clip_id).order_by(LabelVersion.version)
            return list(session.scalars(query))

    def save_annotation_run(self, run_id: str, backend: str, project: str, status: str, record: dict[str, Any]) -> None:
        with self.session() as session:
            session.merge(
                AnnotationRunRecord(
                    id=run_id, backend=backend, project=project, status=status, record=record, updated_at=utcnow()
                )
            )

    def annotation_runs(self, status: str | None = None) -> list[AnnotationRunRecord]:
        query = select(AnnotationRunRecord).order_by(AnnotationRunRecord.created_at)
        if status is not None:
            query = query.where(AnnotationRunRecord.status == status)
        with self.session() as session:
            return list(session.scalars(query))

    def derived_states(self) -> dict[str, str]:
        """Each clip's state as derived from its newest event (for checking the event log)."""
        newest = select(ClipEvent.clip_id, func.max(ClipEvent.id).label("last")).group_by(ClipEvent.clip_id).subquery()
        query = select(ClipEvent.clip_id, ClipEvent.to_state).join(newest, ClipEvent.id == newest.c.last)
        with self.session() as session:
            return dict(session.execute(query).all())

    def status_counts(self) -> dict[str, dict[str, int]]:
        """Counts of videos and clips per status."""
        with self.session() as session:
            videos = Counter(dict(session.execute(select(Video.status, func.count()).group_by(Video.status)).all()))
            clips = Counter(dict(session.execute(select(Clip.status, func.count()).group_by(Clip.status)).all()))
        return {
            "videos": {status.value: videos.get(status.value, 0) for status in VideoStatus},
            "clips": {state.value: clips.get(state.value, 0) for state in ClipState},
        }

    def oldest_waiting(self) -> dict[str, datetime]:
        """For each clip state, when the clip that has waited longest in it got there."""
        waiting = {}
        with self.session() as session:
            for state in ClipState:
                oldest = session.scalar(select(func.min(Clip.updated_at)).where(Clip.status == state))
                if oldest is not None:
                    waiting[state.value] = oldest
        return waiting


def to_signed64(value: int) -> int:
    """Store a uint64 (a perceptual hash) in a signed BIGINT column."""
    return value - (1 << 64) if value >= 1 << 63 else value


def from_signed64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def _by_id(clip: Clip) -> str:
    return clip.id


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
