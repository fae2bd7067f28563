"""A video's rotation: the clockwise quarter turn (0, 90, 180, 270) its display matrix or `rotate` tag asks for,
applied to every image the engine writes. Videos probed before keep 0 (their clips carry the source's matrix).

Create Date: 2026-12-02
"""

import sqlalchemy as sa

from data_engine.catalog.migrations.common import add_columns, drop_columns

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    add_columns("videos", sa.Column("rotation", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    drop_columns("videos", "rotation")
