"""The alembic migrations: Store.open brings a database to head, and head matches the ORM tables."""

import sqlite3

from store_fixtures import store  # noqa: F401 (a fixture)
from store_helpers import head_revision, schema_state

from hootkit.store.db import Store

TABLES = {"accounts", "logins", "classes", "devices", "assignments", "sessions", "turns", "audit", "settings", "holds",
          "pairing_codes"}


async def test_open_migrates_to_head_and_creates_every_table(store, data_dir):
    revision, differences = await schema_state(store)
    assert revision == head_revision()
    assert differences == []
    with sqlite3.connect(data_dir / "hootkit.db") as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert TABLES | {"alembic_version"} == tables


async def test_opening_again_keeps_the_data_and_the_revision(store, data_dir):
    await store.add_account("ada", "hash", "admin")
    await store.close()
    again = await Store.open(Store.url_for(data_dir))
    try:
        assert (await schema_state(again))[0] == head_revision()
        assert await again.count_accounts() == 1
    finally:
        await again.close()


def test_migrations_ship_as_package_data():
    from hootkit.store import migrate

    assert (migrate.MIGRATIONS / "env.py").exists()
    assert (migrate.MIGRATIONS / "script.py.mako").exists()
    assert list((migrate.MIGRATIONS / "versions").glob("0001_*.py"))
