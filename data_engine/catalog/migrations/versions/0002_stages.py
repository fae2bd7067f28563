"""Stage records: trigger hits, selected frames, label versions and annotation runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
EVENT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "trigger_hits",
        sa.Column("id", EVENT_ID, primary_key=True, autoincrement=True),
        sa.Column("clip_id", sa.String(40), sa.ForeignKey("clips.id"), nullable=False, index=True),
        sa.Column("trigger", sa.String(64), nullable=False, index=True),
        sa.Column("first_frame", sa.Integer, nullable=False),
        sa.Column("last_frame", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "selected_frames",
        sa.Column("clip_id", sa.String(40), sa.ForeignKey("clips.id"), primary_key=True),
        sa.Column("frame", sa.Integer, primary_key=True),
        sa.Column("phash", sa.BigInteger, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("budget_day", sa.String(10), nullable=False, index=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "label_versions",
        sa.Column("clip_id", sa.String(40), sa.ForeignKey("clips.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("models", sa.JSON, nullable=False),
        sa.Column("author", sa.String(128)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "annotation_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    for table in ("annotation_runs", "label_versions", "selected_frames", "trigger_hits"):
        op.drop_table(table)
