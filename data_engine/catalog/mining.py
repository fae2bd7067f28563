"""Mining's rows: trigger hits and the frames selected for annotation."""

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from data_engine.catalog.database import CatalogDatabase
from data_engine.catalog.models import Clip, SelectedFrame, TriggerHit, Video, utcnow

_Query = TypeVar("_Query", bound=Select[Any])


class MiningRecords(CatalogDatabase):
    """Trigger hits per clip and selected frames with their reasons and budget day."""

    def hits(self, clip_id: str | None = None, batch_key: str | None = None) -> list[TriggerHit]:
        query = select(TriggerHit).order_by(TriggerHit.clip_id, TriggerHit.first_frame, TriggerHit.trigger)
        if clip_id is not None:
            query = query.where(TriggerHit.clip_id == clip_id)
        if batch_key is not None:
            query = _in_batch(query, TriggerHit.clip_id, batch_key)
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
            query = _in_batch(query, SelectedFrame.clip_id, batch_key)
        with self.session() as session:
            rows = list(session.scalars(query))
        for row in rows:
            row.phash = from_signed64(row.phash)
        return rows

    def selected_count(self, budget_day: str) -> int:
        with self.session() as session:
            query = select(func.count()).select_from(SelectedFrame).where(SelectedFrame.budget_day == budget_day)
            return int(session.scalar(query) or 0)


def to_signed64(value: int) -> int:
    """Store a uint64 (a perceptual hash) in a signed BIGINT column."""
    return value - (1 << 64) if value >= 1 << 63 else value


def from_signed64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def _in_batch(query: _Query, clip_id: InstrumentedAttribute[str], batch_key: str) -> _Query:
    """`query` kept to the rows (`clip_id` their clip) of the clips of ingest batch `batch_key`."""
    in_batch = query.join(Clip, Clip.id == clip_id).join(Video, Video.id == Clip.video_id)
    return in_batch.where(Video.batch_key == batch_key)
