"""Stage records: trigger hits, selected frames, label versions and annotation runs.

Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from data_engine.catalog.migrations.common import clip_key, clip_ref, created_at, drop_tables, event_id, timestamps

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "trigger_hits",
        event_id(),
        clip_ref(),
        sa.Column("trigger", sa.String(64), nullable=False, index=True),
        sa.Column("first_frame", sa.Integer, nullable=False),
        sa.Column("last_frame", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("run_id", sa.String(64)),
        created_at(),
    )
    op.create_table(
        "selected_frames",
        clip_key(),
        sa.Column("frame", sa.Integer, primary_key=True),
        sa.Column("phash", sa.BigInteger, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("budget_day", sa.String(10), nullable=False, index=True),
        sa.Column("run_id", sa.String(64)),
        created_at(),
    )
    op.create_table(
        "label_versions",
        clip_key(),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("models", sa.JSON, nullable=False),
        sa.Column("author", sa.String(128)),
        sa.Column("detail", sa.JSON, nullable=False),
        created_at(),
    )
    op.create_table(
        "annotation_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        *timestamps(),
    )


def downgrade() -> None:
    drop_tables("annotation_runs", "label_versions", "selected_frames", "trigger_hits")
