"""Initial catalog: batches, inbox files, videos and their sources, clips and clip events.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
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
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
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
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("video_id", "ordinal"),
    )
    op.create_index("ix_clips_status_lease", "clips", ["status", "lease_until"])
    op.create_table(
        "clip_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("clip_id", sa.String(40), sa.ForeignKey("clips.id"), nullable=False, index=True),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    for table in ("clip_events", "clips", "video_sources", "videos", "inbox_files", "batch_items", "batches"):
        op.drop_table(table)
