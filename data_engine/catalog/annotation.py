"""Annotation: label versions, annotation runs and the frames they claimed on a platform, and imports of reviews."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from data_engine.catalog.database import CatalogDatabase
from data_engine.catalog.models import AnnotationImport, AnnotationRunRecord, LabelVersion, PushedFrame, utcnow


class AnnotationRecords(CatalogDatabase):
    """Label versions per clip, annotation runs (push claims, take-overs, loss, re-push, close) and review imports."""

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
                    self.dialect_insert(PushedFrame).values(rows[start : start + 500]).on_conflict_do_nothing()
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
