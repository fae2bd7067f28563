"""Typed access to the retraining tables (training runs, model versions, evaluations, events).

Every write is one short transaction on the catalog's engine, like the catalog itself."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from data_engine.catalog import Catalog
from data_engine.catalog.models import utcnow
from data_engine.errors import NotFoundError
from data_engine.registry.models import (
    ModelEvaluationRecord,
    ModelVersionRecord,
    RegistryEvent,
    TrainingRunRecord,
)


@dataclass(frozen=True)
class StatusChange:
    """A model's move to `status` with the reason for it, recorded as an event of `kind` with `detail`."""

    model_id: str
    status: str
    reason: str
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


class RetrainingRecords:
    """The retraining loop's rows in the catalog database."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # Training runs

    def get_training_run(self, run_id: str) -> TrainingRunRecord | None:
        with self.catalog.session() as session:
            return session.get(TrainingRunRecord, run_id)

    def save_training_run(self, run_id: str, **fields: Any) -> TrainingRunRecord:
        """Insert the run or update its fields (a resumed run keeps its row)."""
        with self.catalog.session() as session:
            row = session.get(TrainingRunRecord, run_id)
            if row is None:
                row = TrainingRunRecord(id=run_id, **fields)
                session.add(row)
            else:
                for name, value in fields.items():
                    setattr(row, name, value)
                row.updated_at = utcnow()
            return row

    def training_runs(self) -> list[TrainingRunRecord]:
        with self.catalog.session() as session:
            return list(session.scalars(select(TrainingRunRecord).order_by(TrainingRunRecord.created_at)))

    # Model versions

    def get_model(self, model_id: str) -> ModelVersionRecord | None:
        with self.catalog.session() as session:
            return session.get(ModelVersionRecord, model_id)

    def models(self, status: str | None = None) -> list[ModelVersionRecord]:
        query = select(ModelVersionRecord).order_by(ModelVersionRecord.created_at, ModelVersionRecord.id)
        if status is not None:
            query = query.where(ModelVersionRecord.status == status)
        with self.catalog.session() as session:
            return list(session.scalars(query))

    def add_model(self, event: dict[str, Any], **fields: Any) -> ModelVersionRecord:
        """Insert a model version and its registration event in one transaction."""
        with self.catalog.session() as session:
            row = ModelVersionRecord(**fields)
            session.add(row)
            session.flush()
            session.add(RegistryEvent(model_id=row.id, from_status=None, to_status=row.status, **event))
            return row

    def set_statuses(self, changes: Sequence[StatusChange], actor: str | None) -> None:
        """Apply status changes (each with its reason) and their events atomically."""
        with self.catalog.session() as session:
            for change in changes:
                row = session.get(ModelVersionRecord, change.model_id)
                if row is None:
                    raise NotFoundError(f"unknown model id {change.model_id!r}")
                previous = row.status  # read before the update refreshes the row
                session.execute(
                    update(ModelVersionRecord)
                    .where(ModelVersionRecord.id == change.model_id)
                    .values(status=change.status, reason=change.reason, updated_at=utcnow())
                )
                session.add(
                    RegistryEvent(
                        model_id=change.model_id,
                        kind=change.kind,
                        from_status=previous,
                        to_status=change.status,
                        actor=actor,
                        detail=change.detail,
                    )
                )

    def mark_archived(self, model_ids: Sequence[str], actor: str | None, detail: dict[str, Any]) -> None:
        """Record that the weights of these models were removed (status and reason stay), one event each."""
        with self.catalog.session() as session:
            for model_id in model_ids:
                row = session.get(ModelVersionRecord, model_id)
                if row is None:
                    raise NotFoundError(f"unknown model id {model_id!r}")
                row.archived_at = utcnow()
                session.add(
                    RegistryEvent(
                        model_id=model_id,
                        kind="archive",
                        from_status=row.status,
                        to_status=row.status,
                        actor=actor,
                        detail=detail,
                    )
                )

    def events(self, model_id: str | None = None) -> list[RegistryEvent]:
        query = select(RegistryEvent).order_by(RegistryEvent.id)
        if model_id is not None:
            query = query.where(RegistryEvent.model_id == model_id)
        with self.catalog.session() as session:
            return list(session.scalars(query))

    # Evaluations

    def save_evaluation(self, model_id: str, dataset_id: str, metrics: dict[str, Any]) -> None:
        with self.catalog.session() as session:
            session.merge(ModelEvaluationRecord(model_id=model_id, dataset_id=dataset_id, metrics=metrics))

    def evaluations(self, model_id: str) -> list[ModelEvaluationRecord]:
        query = select(ModelEvaluationRecord).where(ModelEvaluationRecord.model_id == model_id)
        with self.catalog.session() as session:
            return list(session.scalars(query.order_by(ModelEvaluationRecord.dataset_id)))

    def evaluation(self, model_id: str, dataset_id: str) -> dict[str, Any] | None:
        with self.catalog.session() as session:
            row = session.get(ModelEvaluationRecord, (model_id, dataset_id))
            return None if row is None else row.metrics
