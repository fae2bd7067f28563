"""Clips and their states: every move is checked against the state machine and appended to the clip's events."""

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from data_engine.catalog.database import CatalogDatabase, where_given
from data_engine.catalog.models import Clip, ClipEvent, Video, utcnow
from data_engine.catalog.states import ClipState, VideoStatus, check_transition, retry_delay
from data_engine.errors import NotFoundError


def clip_id_for(video_id: str, ordinal: int) -> str:
    """Deterministic clip id, so a re-run after a crash finds the same clips."""
    return f"{video_id[:16]}-{ordinal:05d}"


class ClipRecords(CatalogDatabase):
    """Clips, their moves between states with one event each, their failures, and the counts per state."""

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
        if batch_key is not None or video_status is not None:
            query = query.join(Video, Video.id == Clip.video_id)
        return self.all(
            where_given(
                query,
                (Clip.video_id, video_id),
                (Video.batch_key, batch_key),
                (Video.status, video_status),
                (Clip.status, status),
            )
        )

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

    def history(self, clip_id: str) -> list[ClipEvent]:
        with self.session() as session:
            query = select(ClipEvent).where(ClipEvent.clip_id == clip_id).order_by(ClipEvent.id)
            return list(session.scalars(query))

    # Counts

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
