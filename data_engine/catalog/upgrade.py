"""Bringing a catalog's schema to the newest revision with Alembic; loaded only when a catalog is behind."""

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from data_engine.catalog.revisions import HEAD_REVISION, MIGRATIONS, current_revision


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade_to_head(connection: Connection) -> None:
    """Run the migrations the catalog lacks, in `connection`'s transaction (the caller holds the schema lock)."""
    if current_revision(connection) == HEAD_REVISION:
        return
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
