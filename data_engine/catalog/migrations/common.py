"""Column types and operations the revisions in versions/ share.

Revisions are history: what a helper here produces is part of the schema every revision that calls it wrote, so
a helper is never changed once a revision uses it (a new shape gets a new helper).
"""

import sqlalchemy as sa
from alembic import op

TIMESTAMP = sa.DateTime(timezone=True)
EVENT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def event_id() -> sa.Column:
    """The autoincrementing key of an append-only event table (a 64-bit integer; SQLite's rowid)."""
    return sa.Column("id", EVENT_ID, primary_key=True, autoincrement=True)


def created_at() -> sa.Column:
    return sa.Column("created_at", TIMESTAMP, nullable=False)


def timestamps() -> tuple[sa.Column, sa.Column]:
    """`created_at` and `updated_at`, both required, in that order."""
    return created_at(), sa.Column("updated_at", TIMESTAMP, nullable=False)


def clip_key() -> sa.Column:
    """`clip_id` as (part of) the primary key, a reference to a clip."""
    return sa.Column("clip_id", sa.String(40), sa.ForeignKey("clips.id"), primary_key=True)


def clip_ref() -> sa.Column:
    """`clip_id`, a required and indexed reference to a clip."""
    return sa.Column("clip_id", sa.String(40), sa.ForeignKey("clips.id"), nullable=False, index=True)


def add_columns(table: str, *columns: sa.Column) -> None:
    """Add the columns in order, in one batch (SQLite rebuilds the table once)."""
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.add_column(column)


def drop_columns(table: str, *names: str) -> None:
    """Drop the columns in order, in one batch."""
    with op.batch_alter_table(table) as batch:
        for name in names:
            batch.drop_column(name)


def drop_tables(*names: str) -> None:
    """Drop the tables in order (dependents first)."""
    for name in names:
        op.drop_table(name)
