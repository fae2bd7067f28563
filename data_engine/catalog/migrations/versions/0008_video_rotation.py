"""A video's rotation: the clockwise quarter turn (0, 90, 180, 270) its display matrix or `rotate` tag asks for,
applied to every image the engine writes. Videos probed before keep 0 (their clips carry the source's matrix).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("rotation", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("rotation")
