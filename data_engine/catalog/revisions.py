"""Which schema revision a catalog is at and which the code expects, read without Alembic.

Every command opens the catalog, and a current one needs no migration: answering that with one query instead of
Alembic's machinery (which imports mako and pygments) takes about 0.1 s off each command's start.
"""

from pathlib import Path

from sqlalchemy import Connection, inspect, text

MIGRATIONS = Path(__file__).parent / "migrations"
"""Alembic's script location: the schema's migrations, one per revision."""
HEAD_REVISION = "0008"
"""The newest migration's revision; a test checks it against the scripts in MIGRATIONS, so a new migration that
forgets to move it fails there."""
VERSION_TABLE = "alembic_version"


def current_revision(connection: Connection) -> str | None:
    """The revision Alembic recorded in the catalog (None: a new database, no table yet)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
