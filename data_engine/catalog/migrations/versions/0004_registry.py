"""Retraining records: dataset versions, training runs, model versions, model evaluations, registry events.

Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from data_engine.catalog.migrations.common import created_at, drop_tables, event_id, timestamps

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("number", sa.Integer, nullable=False, unique=True),
        sa.Column("content_hash", sa.String(64), nullable=False, index=True),
        sa.Column("manifest_key", sa.Text, nullable=False),
        sa.Column("class_map", sa.JSON, nullable=False),
        sa.Column("splits", sa.JSON, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
        created_at(),
    )
    op.create_table(
        "training_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("dataset_versions.id"), nullable=False, index=True),
        sa.Column("parent_model_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("device", sa.String(32)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("epochs_completed", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("device_hours", sa.Float, nullable=False),
        sa.Column("estimated_cost", sa.Float, nullable=False),
        sa.Column("run_dir", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        *timestamps(),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("dataset_versions.id"), index=True),
        sa.Column("parent_id", sa.String(64)),
        sa.Column("training_run_id", sa.String(64)),
        sa.Column("weights_key", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("map50", sa.Float),
        sa.Column("map50_95", sa.Float),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text),
        *timestamps(),
    )
    op.create_table(
        "model_evaluations",
        sa.Column("model_id", sa.String(64), sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("dataset_versions.id"), primary_key=True),
        sa.Column("metrics", sa.JSON, nullable=False),
        created_at(),
    )
    op.create_table(
        "registry_events",
        event_id(),
        sa.Column("model_id", sa.String(64), sa.ForeignKey("model_versions.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128)),
        sa.Column("detail", sa.JSON, nullable=False),
        created_at(),
    )


def downgrade() -> None:
    drop_tables("registry_events", "model_evaluations", "model_versions", "training_runs", "dataset_versions")
