"""Passing faults: failed videos and clips keep their attempt count, error and next attempt time; videos keep
the range of their frame rate (variable-frame-rate video).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("videos") as videos:
        videos.add_column(sa.Column("fps_min", sa.Float))
        videos.add_column(sa.Column("fps_max", sa.Float))
        videos.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        videos.add_column(sa.Column("next_attempt_at", TIMESTAMP))
    with op.batch_alter_table("clips") as clips:
        clips.add_column(sa.Column("error", sa.Text))
        clips.add_column(sa.Column("next_attempt_at", TIMESTAMP))


def downgrade() -> None:
    with op.batch_alter_table("clips") as clips:
        clips.drop_column("next_attempt_at")
        clips.drop_column("error")
    with op.batch_alter_table("videos") as videos:
        videos.drop_column("next_attempt_at")
        videos.drop_column("attempts")
        videos.drop_column("fps_max")
        videos.drop_column("fps_min")
