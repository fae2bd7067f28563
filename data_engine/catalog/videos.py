"""The inbox, ingest batches and videos: what was seen, what was batched, and each video's status."""

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select, update

from data_engine.catalog.database import CatalogDatabase, where_given
from data_engine.catalog.models import Batch, BatchItem, InboxFile, Video, VideoSource, utcnow
from data_engine.catalog.states import VideoStatus, retry_delay


class VideoRecords(CatalogDatabase):
    """Inbox files, batches and their items, videos and their source names."""

    # Inbox and batches

    def inbox_index(self) -> dict[str, InboxFile]:
        """Every inbox file seen so far, by URI."""
        with self.session() as session:
            return {row.source_uri: row for row in session.scalars(select(InboxFile))}

    def remember_inbox_files(self, files: Sequence[dict[str, Any]]) -> None:
        """Upsert what the watcher learned about inbox files (uri, size, mtime, hash); the batch stays as it was."""
        if not files:
            return
        with self.session() as session:
            for values in files:
                statement = self.dialect_insert(InboxFile).values(seen_at=utcnow(), **values)
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
        return self.all(where_given(query, (Video.batch_key, batch_key), (Video.status, status)))
