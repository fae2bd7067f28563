"""Passing faults: failed videos and clips keep their attempt count, error and next attempt time; videos keep
the range of their frame rate (variable-frame-rate video).

Create Date: 2026-11-30
"""

import sqlalchemy as sa

from data_engine.catalog.migrations.common import TIMESTAMP, add_columns, drop_columns

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    add_columns(
        "videos",
        sa.Column("fps_min", sa.Float),
        sa.Column("fps_max", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TIMESTAMP),
    )
    add_columns("clips", sa.Column("error", sa.Text), sa.Column("next_attempt_at", TIMESTAMP))


def downgrade() -> None:
    drop_columns("clips", "next_attempt_at", "error")
    drop_columns("videos", "next_attempt_at", "attempts", "fps_max", "fps_min")
