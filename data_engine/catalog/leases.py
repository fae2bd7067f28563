"""Work leases: a stage claims clips, and records its results together with the clips' move, only on clips it holds."""

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session

from data_engine.catalog.clips import ClipRecords
from data_engine.catalog.mining import MiningRecords
from data_engine.catalog.models import Clip, ClipEvent, LabelVersion, TriggerHit, utcnow
from data_engine.catalog.states import ClipState


class WorkLeases(ClipRecords, MiningRecords):
    """Leases on clips (held by a worker or run until they expire or the clip moves) and the stage records that
    need one."""

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
