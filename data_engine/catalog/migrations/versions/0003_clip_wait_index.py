"""Index clips by (status, updated_at) so "oldest clip waiting in each state" is an index lookup at a million clips.

Create Date: 2026-11-21
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_index("ix_clips_status_updated", "clips", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_clips_status_updated", table_name="clips")
