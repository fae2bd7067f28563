"""Pushes and imports idempotent by content: a pushed frame is claimed once per platform (primary key on platform
and frame key), an annotation run in progress names its owner, a closed run when it closed (corrections come back
for a window after), and every import of reviews is recorded so it can be undone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pushed_frames",
        sa.Column("platform", sa.String(200), primary_key=True),
        sa.Column("frame_key", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False, index=True),
        sa.Column("clip_id", sa.String(40), sa.ForeignKey("clips.id"), nullable=False, index=True),
        sa.Column("frame", sa.Integer, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "annotation_imports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False, index=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    with op.batch_alter_table("annotation_runs") as table:
        table.add_column(sa.Column("owner", sa.String(128)))
        table.add_column(sa.Column("closed_at", TIMESTAMP))


def downgrade() -> None:
    with op.batch_alter_table("annotation_runs") as table:
        table.drop_column("closed_at")
        table.drop_column("owner")
    op.drop_table("annotation_imports")
    op.drop_table("pushed_frames")
