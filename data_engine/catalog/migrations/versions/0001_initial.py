"""Initial catalog: batches, inbox files, videos and their sources, clips and clip events.

Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from data_engine.catalog.migrations.common import TIMESTAMP, clip_ref, created_at, drop_tables, event_id, timestamps

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("key", sa.String(64), primary_key=True),
        created_at(),
        sa.Column("origin", sa.String(32), nullable=False),
    )
    op.create_table(
        "batch_items",
        sa.Column("batch_key", sa.String(64), sa.ForeignKey("batches.key"), primary_key=True),
        sa.Column("source_uri", sa.Text, primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False, index=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "inbox_files",
        sa.Column("source_uri", sa.Text, primary_key=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False, index=True),
        sa.Column("batch_key", sa.String(64)),
        sa.Column("seen_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "videos",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("source_uri", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("batch_key", sa.String(64), sa.ForeignKey("batches.key"), index=True),
        sa.Column("container", sa.String(64)),
        sa.Column("codec", sa.String(64)),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("fps", sa.Float),
        sa.Column("frames", sa.Integer),
        sa.Column("duration_s", sa.Float),
        sa.Column("header_fps", sa.Float),
        sa.Column("header_frames", sa.Integer),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("error", sa.Text),
        *timestamps(),
    )
    op.create_table(
        "video_sources",
        sa.Column("video_id", sa.String(64), sa.ForeignKey("videos.id"), primary_key=True),
        sa.Column("source_uri", sa.Text, primary_key=True),
        sa.Column("seen_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "clips",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("video_id", sa.String(64), sa.ForeignKey("videos.id"), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("first_frame", sa.Integer, nullable=False),
        sa.Column("last_frame", sa.Integer, nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("lease_until", TIMESTAMP),
        *timestamps(),
        sa.UniqueConstraint("video_id", "ordinal"),
    )
    op.create_index("ix_clips_status_lease", "clips", ["status", "lease_until"])
    op.create_table(
        "clip_events",
        event_id(),
        clip_ref(),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("detail", sa.JSON, nullable=False),
        created_at(),
    )


def downgrade() -> None:
    drop_tables("clip_events", "clips", "video_sources", "videos", "inbox_files", "batch_items", "batches")
