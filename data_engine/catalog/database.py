"""The catalog's database: the engine and its sessions, migrations, and what every concern module writes with.

SQLite or PostgreSQL; the schema is brought to the newest Alembic revision when the catalog opens.
"""

import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import lazy_loader as lazy
from sqlalchemy import Engine, Select, create_engine, event, inspect, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from data_engine.catalog.revisions import HEAD_REVISION, current_revision
from data_engine.errors import EngineError

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresInsert

POSTGRESQL = "sqlalchemy.dialects.postgresql"

upgrade = lazy.load("data_engine.catalog.upgrade", suppress_warning=True)
"""Alembic and the migrations, imported on first use: only a catalog behind HEAD_REVISION needs them. (The
warning suppressed is that a submodule's package loads at once; this one is the package being loaded.)"""


Row = TypeVar("Row")
Selected = TypeVar("Selected")


def where_given(query: Select[Selected], *conditions: tuple[Any, object]) -> Select[Selected]:
    """`query` narrowed to rows whose column equals the value, for each (column, value) whose value is given (not
    None): the optional filters of a listing."""
    for column, value in conditions:
        if value is not None:
            query = query.where(column == value)
    return query


class CatalogError(EngineError):
    """The catalog cannot be reached or used; the message says which setting to look at."""


SUPPORTED_BACKENDS = ("sqlite", "postgresql")
MIGRATION_LOCK = 0x64617461_656E67
"""PostgreSQL advisory lock key held while the schema is migrated ("dataeng")."""


class CatalogDatabase:
    """The connection to the catalog database: sessions (one short transaction each), migrations, and the
    insert-or-ignore the concern modules share."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as error:
            raise CatalogError(f"DATA_ENGINE_CATALOG_URL is not a valid SQLAlchemy URL: {url!r}") from error
        self.url = parsed.render_as_string(hide_password=True)
        backend = parsed.get_backend_name()
        if backend not in SUPPORTED_BACKENDS:
            raise CatalogError(
                f"DATA_ENGINE_CATALOG_URL={self.url!r}: the catalog runs on SQLite (sqlite:///path/catalog.db) or "
                f"PostgreSQL (postgresql+psycopg2://user@host/db), not {backend!r}"
            )
        self.is_sqlite = backend == "sqlite"
        if self.is_sqlite and parsed.database not in (None, "", ":memory:"):
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise CatalogError(
                    f"cannot create the folder of the catalog DATA_ENGINE_CATALOG_URL={self.url}: {error}"
                ) from error
        try:
            self.engine: Engine = create_engine(parsed, pool_pre_ping=True)
        except (NoSuchModuleError, ImportError) as error:
            raise CatalogError(
                f"DATA_ENGINE_CATALOG_URL={self.url!r}: no database driver for {parsed.drivername!r} ({error}); "
                "use sqlite:///path or postgresql+psycopg2://user@host/db"
            ) from error
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.migrate()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error.

        A database that stops answering or cannot write (server gone, SQLite on a full disk) becomes a
        CatalogError naming the catalog, so commands print one line instead of a traceback.
        """
        try:
            with self._sessions.begin() as session:
                yield session
        except OperationalError as error:
            raise CatalogError(
                f"the catalog at {self.url} (DATA_ENGINE_CATALOG_URL) failed: {self._reason(error)}"
            ) from error

    def all(self, query: Select[Row]) -> list[Row]:
        """Every object `query` selects, read in one session."""
        with self.session() as session:
            return list(session.scalars(query))

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (a no-op when it is current).

        Under the database's own lock (PostgreSQL advisory lock, SQLite's write lock), so N processes opening a
        fresh catalog at once migrate it once: the others wait, see the current revision and go on.
        """
        try:
            if self.schema_revision() == HEAD_REVISION:
                return
            with self.engine.begin() as connection:
                self._lock_for_migration(connection)
                upgrade.upgrade_to_head(connection)
        except OperationalError as error:
            raise CatalogError(
                f"cannot open the catalog at {self.url} (DATA_ENGINE_CATALOG_URL): {self._reason(error)}"
            ) from error

    def _reason(self, error: OperationalError) -> str:
        """The database's message; for SQLite, whether the disk holding it is full (SQLite then often says only
        "disk I/O error")."""
        reason = " ".join(str(error.orig).split())  # one line: psycopg2 adds a hint on a line of its own
        database = make_url(self.url).database
        if self.is_sqlite and database and database != ":memory:":
            try:
                full = shutil.disk_usage(Path(database).parent).free < 1 << 20
            except OSError:
                full = False
            if full:
                reason += " (the disk holding it is full)"
        return reason

    def _lock_for_migration(self, connection: Connection) -> None:
        """Hold the schema lock until this transaction ends (SQLite's DDL then also runs in it)."""
        if self.is_sqlite:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})

    def dialect_insert(self, model: type[DeclarativeBase]) -> "sqlite.Insert | PostgresInsert":
        """The backend's INSERT for `model`, the one with ON CONFLICT clauses. PostgreSQL's dialect is looked up by
        name: `create_engine` has imported it for a catalog there, and a command on SQLite never pays for it (its
        package imports every PostgreSQL driver's module, ~0.03 s)."""
        if self.is_sqlite:
            return sqlite.insert(model)
        postgres_insert: Callable[[type[DeclarativeBase]], PostgresInsert] = import_module(POSTGRESQL).insert
        return postgres_insert(model)

    def _insert_ignoring_existing(
        self, session: Session, model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]
    ) -> int:
        """Insert rows, skipping those whose primary key exists already (another process may have won the race);
        the number inserted."""
        if not rows:
            return 0
        key = inspect(model).primary_key[0]
        inserted = 0
        for start in range(0, len(rows), 500):
            statement = self.dialect_insert(model).values(list(rows[start : start + 500]))
            inserted += len(session.execute(statement.on_conflict_do_nothing().returning(key)).all())
        return inserted

    def schema_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return current_revision(connection)

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
