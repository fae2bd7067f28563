"""The catalog: the source of truth for per-video and per-clip state (SQLite or PostgreSQL)."""

import shutil
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
from sqlalchemy import Engine, create_engine, delete, event, func, insert, inspect, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from data_engine.catalog.models import (
    AnnotationImport,
    AnnotationRunRecord,
    Batch,
    BatchItem,
    Clip,
    ClipEvent,
    InboxFile,
    LabelVersion,
    PushedFrame,
    SelectedFrame,
    TriggerHit,
    Video,
    VideoSource,
    utcnow,
)
from data_engine.catalog.states import ClipState, VideoStatus, check_transition
from data_engine.errors import EngineError, NotFoundError

MIGRATIONS = Path(__file__).parent / "migrations"


class CatalogError(EngineError):
    """The catalog cannot be reached or used; the message says which setting to look at."""


def clip_id_for(video_id: str, ordinal: int) -> str:
    """Deterministic clip id, so a re-run after a crash finds the same clips."""
    return f"{video_id[:16]}-{ordinal:05d}"


def retry_delay(attempts: int) -> timedelta:
    """How long a failed item waits before runs take it again: the next run after a first failure (the fault
    was probably fixed), then 1, 2, 4 ... minutes, at most an hour, so a fault that persists is not hammered."""
    if attempts <= 1:
        return timedelta(0)
    return timedelta(seconds=min(3600, 60 * 2 ** (attempts - 2)))


SUPPORTED_BACKENDS = ("sqlite", "postgresql")
MIGRATION_LOCK = 0x64617461_656E67
"""PostgreSQL advisory lock key held while the schema is migrated ("dataeng")."""


class Catalog:
    """Typed access to the catalog tables; every write is one short transaction."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as error:
            raise CatalogError(f"DATA_ENGINE_CATALOG_URL is not a valid SQLAlchemy URL: {url!r}") from error
        self.url = parsed.render_as_string(hide_password=True)
        backend = parsed.get_backend_name()
        if backend not in SUPPORTED_BACKENDS:
            raise CatalogError(
                f"DATA_ENGINE_CATALOG_URL={self.url!r}: the catalog runs on SQLite (sqlite:///path/catalog.db) or "
                f"PostgreSQL (postgresql+psycopg2://user@host/db), not {backend!r}"
            )
        self.is_sqlite = backend == "sqlite"
        if self.is_sqlite and parsed.database not in (None, "", ":memory:"):
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise CatalogError(
                    f"cannot create the folder of the catalog DATA_ENGINE_CATALOG_URL={self.url}: {error}"
                ) from error
        try:
            self.engine: Engine = create_engine(parsed, pool_pre_ping=True)
        except (NoSuchModuleError, ImportError) as error:
            raise CatalogError(
                f"DATA_ENGINE_CATALOG_URL={self.url!r}: no database driver for {parsed.drivername!r} ({error}); "
                "use sqlite:///path or postgresql+psycopg2://user@host/db"
            ) from error
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.migrate()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error.

        A database that stops answering or cannot write (server gone, SQLite on a full disk) becomes a
        CatalogError naming the catalog, so commands print one line instead of a traceback.
        """
        try:
            with self._sessions.begin() as session:
                yield session
        except OperationalError as error:
            raise CatalogError(
                f"the catalog at {self.url} (DATA_ENGINE_CATALOG_URL) failed: {self._reason(error)}"
            ) from error

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (a no-op when it is current).

        Under the database's own lock (PostgreSQL advisory lock, SQLite's write lock), so N processes opening a
        fresh catalog at once migrate it once: the others wait, see the current revision and go on.
        """
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(config).get_current_head()
        try:
            if self.schema_revision() == head:
                return
            with self.engine.begin() as connection:
                self._lock_for_migration(connection)
                if MigrationContext.configure(connection).get_current_revision() == head:
                    return
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as error:
            raise CatalogError(
                f"cannot open the catalog at {self.url} (DATA_ENGINE_CATALOG_URL): {self._reason(error)}"
            ) from error

    def _reason(self, error: OperationalError) -> str:
        """The database's message; for SQLite, whether the disk holding it is full (SQLite then often says only
        "disk I/O error")."""
        reason = " ".join(str(error.orig).split())  # one line: psycopg2 adds a hint on a line of its own
        database = make_url(self.url).database
        if self.is_sqlite and database and database != ":memory:":
            try:
                full = shutil.disk_usage(Path(database).parent).free < 1 << 20
            except OSError:
                full = False
            if full:
                reason += " (the disk holding it is full)"
        return reason

    def _lock_for_migration(self, connection: Connection) -> None:
        """Hold the schema lock until this transaction ends (SQLite's DDL then also runs in it)."""
        if self.is_sqlite:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})

    def _insert_ignoring_existing(
        self, session: Session, model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]
    ) -> int:
        """Insert rows, skipping those whose primary key exists already (another process may have won the race);
        the number inserted."""
        if not rows:
            return 0
        dialect_insert = sqlite.insert if self.is_sqlite else postgresql.insert
        key = inspect(model).primary_key[0]
        inserted = 0
        for start in range(0, len(rows), 500):
            statement = dialect_insert(model).values(list(rows[start : start + 500]))
            inserted += len(session.execute(statement.on_conflict_do_nothing().returning(key)).all())
        return inserted

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
        """Upsert what the watcher learned about inbox files (uri, size, mtime, hash); the batch stays as it was."""
        if not files:
            return
        dialect_insert = sqlite.insert if self.is_sqlite else postgresql.insert
        with self.session() as session:
            for values in files:
                statement = dialect_insert(InboxFile).values(seen_at=utcnow(), **values)
                changed = {name: statement.excluded[name] for name in values if name != "source_uri"}
                session.execute(statement.on_conflict_do_update(index_elements=["source_uri"], set_=changed))

    def create_batch(self, key: str, origin: str, items: Sequence[tuple[str, str, int]]) -> bool:
        """Record a batch of (source uri, content hash, size); False when it already existed (idempotent, also
        when concurrent runs plan the same batch)."""
        with self.session() as session:
            created = self._insert_ignoring_existing(
                session, Batch, [{"key": key, "origin": origin, "created_at": utcnow()}]
            )
            self._insert_ignoring_existing(
                session,
                BatchItem,
                [
                    {"batch_key": key, "source_uri": uri, "content_hash": digest, "size_bytes": size}
                    for uri, digest, size in items
                ],
            )
            session.execute(
                update(InboxFile).where(InboxFile.source_uri.in_([i[0] for i in items])).values(batch_key=key)
            )
        return created > 0

    def batch_items(self, key: str) -> list[BatchItem]:
        with self.session() as session:
            return list(
                session.scalars(select(BatchItem).where(BatchItem.batch_key == key).order_by(BatchItem.source_uri))
            )

    def batch_keys(self) -> list[str]:
        with self.session() as session:
            return list(session.scalars(select(Batch.key).order_by(Batch.created_at, Batch.key)))

    def incomplete_batches(self) -> list[str]:
        """Batches with a video not yet clipped or quarantined (new, interrupted by a crash, or failed and due
        for another attempt)."""
        due = (Video.status == VideoStatus.FAILED) & (
            Video.next_attempt_at.is_(None) | (Video.next_attempt_at <= utcnow())
        )
        query = (
            select(BatchItem.batch_key)
            .outerjoin(Video, Video.id == BatchItem.content_hash)
            .where((Video.id.is_(None)) | (Video.status == VideoStatus.REGISTERED) | due)
            .distinct()
            .order_by(BatchItem.batch_key)
        )
        with self.session() as session:
            return list(session.scalars(query))

    def batch_attempts(self, batch_keys: Iterable[str]) -> dict[str, int]:
        """Failed attempts so far over each batch's videos: a run key that includes it lets a batch whose failed
        videos became due run again, while a batch still waiting keeps its key (and is not requested twice)."""
        keys = list(set(batch_keys))
        query = (
            select(BatchItem.batch_key, func.coalesce(func.sum(Video.attempts), 0))
            .outerjoin(Video, Video.id == BatchItem.content_hash)
            .where(BatchItem.batch_key.in_(keys))
            .group_by(BatchItem.batch_key)
        )
        with self.session() as session:
            found = {key: int(total) for key, total in session.execute(query)}
        return {key: found.get(key, 0) for key in keys}

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
        """Insert a video (or add another source name to an existing one); True when it is new.

        Insert-or-ignore by id: concurrent runs registering the same content both succeed, the first row wins.
        """
        now = utcnow()
        row = {
            "truncated": False,
            "attempts": 0,
            **fields,
            "id": video_id,
            "source_uri": source_uri,
            "created_at": now,
            "updated_at": now,
        }
        with self.session() as session:
            created = self._insert_ignoring_existing(session, Video, [row]) > 0
            self._insert_ignoring_existing(
                session, VideoSource, [{"video_id": video_id, "source_uri": source_uri, "seen_at": now}]
            )
            video = session.get(Video, video_id)
            assert video is not None
            return video, created

    def update_video(self, video_id: str, **fields: Any) -> None:
        with self.session() as session:
            session.execute(update(Video).where(Video.id == video_id).values(updated_at=utcnow(), **fields))

    def quarantine_video(self, video_id: str, error: str) -> None:
        """The input's fault: set the video aside with the reason (never over a video another run clipped)."""
        with self.session() as session:
            session.execute(
                update(Video)
                .where(Video.id == video_id, Video.status != VideoStatus.CLIPPED)
                .values(status=VideoStatus.QUARANTINED, error=error, next_attempt_at=None, updated_at=utcnow())
            )

    def fail_video(self, video_id: str, error: str) -> Video | None:
        """The world's fault: count the attempt, keep the error and when to try again (see `retry_delay`).

        A video that another run has clipped or quarantined meanwhile keeps that status.
        """
        with self.session() as session:
            video = session.get(Video, video_id, with_for_update=not self.is_sqlite)
            if video is None or video.status not in (VideoStatus.REGISTERED, VideoStatus.FAILED):
                return video
            video.attempts = (video.attempts or 0) + 1
            video.status, video.error = VideoStatus.FAILED, error
            video.next_attempt_at = utcnow() + retry_delay(video.attempts)
            video.updated_at = utcnow()
            return video

    def retry_videos(self, video_ids: Sequence[str] | None = None) -> list[str]:
        """Re-queue failed (or, named by id, quarantined) videos for the next run; None means every failed one."""
        query = update(Video).values(status=VideoStatus.FAILED, next_attempt_at=utcnow(), updated_at=utcnow())
        if video_ids is None:
            query = query.where(Video.status == VideoStatus.FAILED)
        else:
            query = query.where(
                Video.id.in_(list(video_ids)),
                Video.status.in_([VideoStatus.FAILED, VideoStatus.QUARANTINED]),
            )
        with self.session() as session:
            return list(session.scalars(query.returning(Video.id), execution_options={"synchronize_session": False}))

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
        """Record a finished clip file and its creation event in one transaction (idempotent by clip id: a clip
        another process recorded first is accepted as it is)."""
        clip_id = clip_id_for(fields["video_id"], fields["ordinal"])
        now = utcnow()
        row = {
            **fields,
            "id": clip_id,
            "status": ClipState.EXTRACTED,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        with self.session() as session:
            if self._insert_ignoring_existing(session, Clip, [row]):
                session.add(
                    ClipEvent(
                        clip_id=clip_id,
                        stage="extract",
                        from_state=None,
                        to_state=ClipState.EXTRACTED,
                        run_id=run_id,
                        detail=detail or {},
                        created_at=now,
                    )
                )
            clip = session.get(Clip, clip_id)
            assert clip is not None
            return clip

    def get_clip(self, clip_id: str) -> Clip | None:
        with self.session() as session:
            return session.get(Clip, clip_id)

    def require_clip(self, clip_id: str) -> Clip:
        """The clip, or a `NotFoundError` that tells a person where to look."""
        clip = self.get_clip(clip_id)
        if clip is None:
            raise NotFoundError(f"no clip with id {clip_id!r} (see `data-engine clips`)")
        return clip

    def clips(
        self,
        video_id: str | None = None,
        batch_key: str | None = None,
        status: str | None = None,
        video_status: str | None = None,
    ) -> list[Clip]:
        """Clips (of a video, of a batch, in a state), in video and clip order; `video_status`: only clips of the
        videos in that state (`clipped`: of videos whose every clip is in place)."""
        query = select(Clip).order_by(Clip.video_id, Clip.ordinal)
        if video_id is not None:
            query = query.where(Clip.video_id == video_id)
        if batch_key is not None or video_status is not None:
            query = query.join(Video, Video.id == Clip.video_id)
        if batch_key is not None:
            query = query.where(Video.batch_key == batch_key)
        if video_status is not None:
            query = query.where(Video.status == video_status)
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
        with self.session() as session:
            return self._move(session, clip_ids, target, stage=stage, run_id=run_id, detail=detail)

    def _move(
        self,
        session: Session,
        clip_ids: Sequence[str],
        target: ClipState,
        *,
        stage: str,
        run_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """`transition` inside the caller's transaction (so a stage records its results and the move together)."""
        moved = 0
        for start in range(0, len(clip_ids), 500):
            chunk = list(clip_ids[start : start + 500])
            rows = session.execute(select(Clip.id, Clip.status, Clip.attempts).where(Clip.id.in_(chunk))).all()
            current = {row.id: row.status for row in rows}
            missing = set(chunk) - current.keys()
            if missing:
                raise NotFoundError(f"unknown clip ids: {sorted(missing)[:5]}")
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
                "error": None,
                "next_attempt_at": None,
            }
            if target is ClipState.FAILED:
                self._record_clip_failures(session, rows, to_move, values, str((detail or {}).get("error", "")))
            else:
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

    @staticmethod
    def _record_clip_failures(
        session: Session, rows: Sequence[Any], failing: Sequence[str], values: dict[str, Any], error: str
    ) -> None:
        """Move clips to `failed` counting the attempt, with the error and the time of the next attempt."""
        attempts = {row.id: (row.attempts or 0) + 1 for row in rows if row.id in set(failing)}
        for count in set(attempts.values()):
            session.execute(
                update(Clip)
                .where(Clip.id.in_([cid for cid, n in attempts.items() if n == count]))
                .values(
                    {
                        **values,
                        "attempts": count,
                        "error": error or None,
                        "next_attempt_at": utcnow() + retry_delay(count),
                    }
                )
            )

    def failed_clip_origins(self, clip_ids: Sequence[str] | None = None) -> dict[ClipState, list[str]]:
        """The failed clips (None: all of them) grouped by the state they failed from, where a retry puts them."""
        query = select(Clip.id).where(Clip.status == ClipState.FAILED)
        if clip_ids is not None:
            query = query.where(Clip.id.in_(list(clip_ids)))
        with self.session() as session:
            failed = list(session.scalars(query))
            newest = (
                select(ClipEvent.clip_id, func.max(ClipEvent.id).label("last"))
                .where(ClipEvent.clip_id.in_(failed), ClipEvent.to_state == ClipState.FAILED)
                .group_by(ClipEvent.clip_id)
                .subquery()
            )
            came_from = dict(
                session.execute(
                    select(ClipEvent.clip_id, ClipEvent.from_state).join(newest, ClipEvent.id == newest.c.last)
                ).all()
            )
        by_state: dict[ClipState, list[str]] = {}
        for clip_id in failed:
            previous = came_from.get(clip_id)
            by_state.setdefault(ClipState(previous) if previous else ClipState.EXTRACTED, []).append(clip_id)
        return by_state

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

    def claim_clips(
        self,
        clip_ids: Sequence[str],
        status: ClipState | None,
        worker: str,
        *,
        lease_seconds: float = 3600.0,
        gone: Iterable[str] = (),
    ) -> list[str]:
        """Lease to `worker` those of `clip_ids` still in `status` (None: in any) that nobody holds: no lease, an
        expired one, or one held by a process known to be dead (`gone`); returns the ids it got, sorted.

        One conditional UPDATE per chunk: of processes claiming at once, each clip goes to exactly one (SQLite
        serialises writers; PostgreSQL re-checks the condition on the row a concurrent claimant just updated).
        """
        now = utcnow()
        free = Clip.lease_until.is_(None) | (Clip.lease_until < now) | (Clip.claimed_by == worker)
        dead = sorted(set(gone))
        if dead:
            free = free | Clip.claimed_by.in_(dead)
        if status is not None:
            free = free & (Clip.status == status)
        got: list[str] = []
        with self.session() as session:
            for start in range(0, len(clip_ids), 500):
                claim = (
                    update(Clip)
                    .where(Clip.id.in_(list(clip_ids[start : start + 500])), free)
                    .values(claimed_by=worker, lease_until=now + timedelta(seconds=lease_seconds))
                    .returning(Clip.id)
                )
                got.extend(session.scalars(claim, execution_options={"synchronize_session": False}))
        return sorted(got)

    def _held(self, session: Session, clip_ids: Sequence[str], worker: str) -> list[str]:
        """Of `clip_ids`, those `worker` holds, locked for the rest of the transaction (the write comes first, so
        SQLite takes its write lock before anything is read)."""
        held = (
            update(Clip)
            .where(Clip.id.in_(list(clip_ids)), Clip.claimed_by == worker)
            .values(updated_at=utcnow())
            .returning(Clip.id)
        )
        return sorted(session.scalars(held, execution_options={"synchronize_session": False}))

    def record_mined(
        self,
        clip_id: str,
        hits: Sequence[dict[str, Any]],
        worker: str,
        *,
        run_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """A claimed clip's trigger hits and its move to `mined`, in one transaction; False (nothing written) when
        `worker` no longer holds the clip."""
        with self.session() as session:
            if not self._held(session, [clip_id], worker):
                return False
            session.execute(delete(TriggerHit).where(TriggerHit.clip_id == clip_id))
            if hits:
                session.execute(
                    insert(TriggerHit),
                    [{"clip_id": clip_id, "run_id": run_id, "created_at": utcnow(), **hit} for hit in hits],
                )
            self._move(session, [clip_id], ClipState.MINED, stage="mine", run_id=run_id, detail=detail)
        return True

    def record_selection(
        self,
        rows: Sequence[dict[str, Any]],
        worker: str,
        *,
        run_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> dict[str, int]:
        """Selected frames of clips `worker` holds and those clips' move to `selected`, in one transaction (a
        crash leaves either both or neither); rows of clips it does not hold are dropped. Returns frames recorded
        per clip moved."""
        with self.session() as session:
            held = set(self._held(session, sorted({str(row["clip_id"]) for row in rows}), worker))
            mine = [row for row in rows if row["clip_id"] in held]
            self._insert_selected_frames(session, mine, run_id)
            per_clip = Counter(str(row["clip_id"]) for row in mine)
            for clip_id, count in sorted(per_clip.items()):
                moved_detail = {**(detail or {}), "frames": count}
                self._move(session, [clip_id], ClipState.SELECTED, stage="select", run_id=run_id, detail=moved_detail)
        return dict(per_clip)

    def record_autolabel(
        self,
        clip_id: str,
        version: int,
        worker: str,
        *,
        label: dict[str, Any],
        move_to: ClipState | None,
        run_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """A claimed clip's new label version and its move (`move_to`, or an event that keeps its state), in one
        transaction; False (nothing written) when `worker` no longer holds the clip."""
        with self.session() as session:
            if not self._held(session, [clip_id], worker):
                return False
            if session.get(LabelVersion, (clip_id, version)) is None:
                session.add(LabelVersion(clip_id=clip_id, version=version, **label))
            if move_to is not None:
                self._move(session, [clip_id], move_to, stage="autolabel", run_id=run_id, detail=detail)
            else:
                clip = session.get(Clip, clip_id)
                assert clip is not None
                session.add(
                    ClipEvent(
                        clip_id=clip_id,
                        stage="autolabel",
                        from_state=clip.status,
                        to_state=clip.status,
                        run_id=run_id,
                        detail=detail or {},
                    )
                )
                clip.claimed_by, clip.lease_until = None, None
        return True

    def history(self, clip_id: str) -> list[ClipEvent]:
        with self.session() as session:
            query = select(ClipEvent).where(ClipEvent.clip_id == clip_id).order_by(ClipEvent.id)
            return list(session.scalars(query))

    # Mining

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
        with self.session() as session:
            return self._insert_selected_frames(session, rows, run_id)

    def _insert_selected_frames(self, session: Session, rows: Sequence[dict[str, Any]], run_id: str | None) -> int:
        """Insert-or-ignore by (clip, frame): a frame selected once keeps its first reasons; the number inserted."""
        now = utcnow()
        fresh = [{**row, "phash": to_signed64(row["phash"]), "run_id": run_id, "created_at": now} for row in rows]
        return self._insert_ignoring_existing(session, SelectedFrame, fresh)

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

    def annotation_runs(
        self, status: str | None = None, closed_since: datetime | None = None
    ) -> list[AnnotationRunRecord]:
        """Annotation runs, oldest first: all, those in `status`, or (`closed_since`) also the runs closed since."""
        query = select(AnnotationRunRecord).order_by(AnnotationRunRecord.created_at)
        if status is not None and closed_since is not None:
            query = query.where(
                (AnnotationRunRecord.status == status) | (AnnotationRunRecord.closed_at >= closed_since)
            )
        elif status is not None:
            query = query.where(AnnotationRunRecord.status == status)
        with self.session() as session:
            return list(session.scalars(query))

    def close_annotation_run(self, run_id: str) -> None:
        """Every frame of the run is answered: it is `done`, and since when (corrections are pulled for a while)."""
        with self.session() as session:
            session.execute(
                update(AnnotationRunRecord)
                .where(AnnotationRunRecord.id == run_id, AnnotationRunRecord.status != "done")
                .values(status="done", closed_at=utcnow(), updated_at=utcnow())
            )

    def claim_push(
        self,
        run_id: str,
        backend: str,
        platform: str,
        owner: str,
        frames: Sequence[tuple[str, str, int]],
    ) -> list[str]:
        """Claim (frame key, clip id, frame) triples for a new annotation run `run_id` (status `pushing`, owned by
        `owner`), in one transaction. A frame already claimed for `platform`, by any run, is skipped: the primary
        key on (platform, frame key) decides between concurrent claims. Returns the keys this run got; a run that
        got none is not recorded."""
        now = utcnow()
        rows = [
            {
                "platform": platform,
                "frame_key": key,
                "run_id": run_id,
                "clip_id": clip,
                "frame": frame,
                "created_at": now,
            }
            for key, clip, frame in frames
        ]
        dialect_insert = sqlite.insert if self.is_sqlite else postgresql.insert
        with self.session() as session:
            session.add(
                AnnotationRunRecord(
                    id=run_id, backend=backend, project="", status="pushing", record={}, owner=owner, updated_at=now
                )
            )
            session.flush()
            claimed: list[str] = []
            for start in range(0, len(rows), 500):
                statement = (
                    dialect_insert(PushedFrame).values(rows[start : start + 500]).on_conflict_do_nothing()
                ).returning(PushedFrame.frame_key)
                claimed.extend(session.scalars(statement))
            if not claimed:
                session.execute(delete(AnnotationRunRecord).where(AnnotationRunRecord.id == run_id))
            return claimed

    def mark_annotation_run_lost(self, run_id: str, reason: str) -> bool:
        """The platform lost run `run_id` (its project was deleted): it is `lost`, with why and since when, until a
        push sends its frames again (`repush_annotation_run`). False when the run is not pushed or done."""
        with self.session() as session:
            row = session.get(AnnotationRunRecord, run_id)
            if row is None or row.status not in ("pushed", "done"):
                return False
            row.status = "lost"
            row.record = {**row.record, "lost": {"reason": reason, "at": utcnow().isoformat(timespec="seconds")}}
            row.updated_at = utcnow()
            return True

    def repush_annotation_run(
        self, run_id: str, new_run_id: str, owner: str, frame_keys: Sequence[str], reason: str
    ) -> bool:
        """Close run `run_id` as `replaced` (why, when, and by which run) and move the claims of `frame_keys` to a
        new run `new_run_id` (`pushing`, owned by `owner`, recording the run it replaces), in one transaction; no
        new run when `frame_keys` is empty. Only one caller wins a run; False for the others, and for a run that
        is still being pushed or was replaced already."""
        now = utcnow()
        with self.session() as session:
            row = session.get(AnnotationRunRecord, run_id)
            if row is None or row.status not in ("pushed", "done", "lost"):
                return False
            by = new_run_id if frame_keys else None
            closing = {"reason": reason, "at": now.isoformat(timespec="seconds"), "by": by}
            taken = session.execute(
                update(AnnotationRunRecord)
                .where(AnnotationRunRecord.id == run_id, AnnotationRunRecord.status == row.status)
                .values(status="replaced", record={**row.record, "replaced": closing}, closed_at=now, updated_at=now)
            )
            if not getattr(taken, "rowcount", 0):
                return False
            if frame_keys:
                session.add(
                    AnnotationRunRecord(
                        id=new_run_id,
                        backend=row.backend,
                        project="",
                        status="pushing",
                        record={"replaces": run_id, "reason": reason},
                        owner=owner,
                        updated_at=now,
                    )
                )
                session.flush()
                keys = list(frame_keys)
                for start in range(0, len(keys), 500):
                    session.execute(
                        update(PushedFrame)
                        .where(PushedFrame.run_id == run_id, PushedFrame.frame_key.in_(keys[start : start + 500]))
                        .values(run_id=new_run_id)
                    )
            return True

    def annotation_run(self, run_id: str) -> AnnotationRunRecord | None:
        with self.session() as session:
            return session.get(AnnotationRunRecord, run_id)

    def pushed_frames(self, run_id: str) -> list[PushedFrame]:
        """The frames claimed by annotation run `run_id`."""
        with self.session() as session:
            query = (
                select(PushedFrame).where(PushedFrame.run_id == run_id).order_by(PushedFrame.clip_id, PushedFrame.frame)
            )
            return list(session.scalars(query))

    def take_over_push(self, run_id: str, owner: str | None, new_owner: str) -> bool:
        """Take an unfinished push from `owner` (a process that died); only one taker wins."""
        with self.session() as session:
            taken = session.execute(
                update(AnnotationRunRecord)
                .where(
                    AnnotationRunRecord.id == run_id,
                    AnnotationRunRecord.status == "pushing",
                    AnnotationRunRecord.owner.is_(None) if owner is None else AnnotationRunRecord.owner == owner,
                )
                .values(owner=new_owner, updated_at=utcnow())
            )
            return bool(getattr(taken, "rowcount", 0))

    def finish_push(self, run_id: str, project: str, record: dict[str, Any]) -> None:
        """The push is complete: its run record is what pulls read back."""
        with self.session() as session:
            session.execute(
                update(AnnotationRunRecord)
                .where(AnnotationRunRecord.id == run_id)
                .values(status="pushed", project=project, record=record, owner=None, updated_at=utcnow())
            )

    def record_import(self, import_id: str, run_id: str, source: str, file_format: str, record: dict[str, Any]) -> bool:
        """Record an import of reviews (idempotent: False when `import_id` was recorded before)."""
        with self.session() as session:
            if session.get(AnnotationImport, import_id) is not None:
                return False
            session.add(
                AnnotationImport(
                    id=import_id, run_id=run_id, source=source, format=file_format, status="imported", record=record
                )
            )
            return True

    def annotation_import(self, import_id: str) -> AnnotationImport | None:
        with self.session() as session:
            return session.get(AnnotationImport, import_id)

    def annotation_imports(self) -> list[AnnotationImport]:
        with self.session() as session:
            return list(session.scalars(select(AnnotationImport).order_by(AnnotationImport.created_at)))

    def mark_import_undone(self, import_id: str, detail: dict[str, Any]) -> None:
        with self.session() as session:
            row = session.get(AnnotationImport, import_id)
            if row is not None:
                row.status = "undone"
                row.record = {**row.record, "undo": detail}

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
