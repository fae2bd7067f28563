"""Pushes and imports idempotent by content: a pushed frame is claimed once per platform (primary key on platform
and frame key), an annotation run in progress names its owner, a closed run when it closed (corrections come back
for a window after), and every import of reviews is recorded so it can be undone.

Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from data_engine.catalog.migrations.common import (
    TIMESTAMP,
    add_columns,
    clip_ref,
    created_at,
    drop_columns,
    drop_tables,
    timestamps,
)

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "pushed_frames",
        sa.Column("platform", sa.String(200), primary_key=True),
        sa.Column("frame_key", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False, index=True),
        clip_ref(),
        sa.Column("frame", sa.Integer, nullable=False),
        created_at(),
    )
    op.create_table(
        "annotation_imports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False, index=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        *timestamps(),
    )
    add_columns("annotation_runs", sa.Column("owner", sa.String(128)), sa.Column("closed_at", TIMESTAMP))


def downgrade() -> None:
    drop_columns("annotation_runs", "closed_at", "owner")
    drop_tables("annotation_imports", "pushed_frames")
