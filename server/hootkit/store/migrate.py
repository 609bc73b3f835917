"""Schema migrations with alembic, run in code (no alembic.ini): `upgrade(connection)` brings a database to head."""

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(connection) -> None:
    """For `AsyncConnection.run_sync`: apply every migration the database has not had yet."""
    command.upgrade(alembic_config(connection), "head")
