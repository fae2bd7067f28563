"""Catalog tables of the retraining loop: training runs, model versions, their evaluations and
the registry's event log. They share the catalog's `Base`, so one Alembic history (revisions 0004, 0007) covers them."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from data_engine.catalog.models import Base, EventLog, Timestamped, utcnow
from data_engine.datasets.records import DatasetVersionRecord


class TrainingRunRecord(Timestamped, Base):
    """One training run (all its attempts: a killed run resumed later is the same run)."""

    __tablename__ = "training_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey(DatasetVersionRecord.id), index=True)
    parent_model_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    device: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    epochs_completed: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    device_hours: Mapped[float] = mapped_column(Float, default=0.0)
    estimated_cost: Mapped[float] = mapped_column(Float, default=0.0)
    run_dir: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class ModelVersionRecord(Timestamped, Base):
    """A registered model: weights in the store (with their sha256), metrics on its dataset's test split,
    lineage, its status (a `ModelStatus`) with the reason for it, and `archived_at` once retention removed its
    weights (the row and its status stay)."""

    __tablename__ = "model_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey(DatasetVersionRecord.id), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(64))
    training_run_id: Mapped[str | None] = mapped_column(String(64))
    weights_key: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    map50: Mapped[float | None] = mapped_column(Float)
    map50_95: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[datetime | None] = mapped_column()


class ModelEvaluationRecord(Base):
    """A model's evaluation on one dataset version's test split (the gate compares two models on the same one)."""

    __tablename__ = "model_evaluations"

    model_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey(DatasetVersionRecord.id), primary_key=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RegistryEvent(EventLog, Base):
    """Append-only log of the registry: registrations, gate decisions, promotions, rollbacks, archiving."""

    __tablename__ = "registry_events"

    model_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(128))
