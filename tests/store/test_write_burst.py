"""A burst of writes (a login flood's audit rows beside children's turns) all land on SQLite: none is refused as
"database is locked" while other writes of the same server wait their turn."""

import asyncio

import pytest

from hootkit.store import db
from store_fixtures import store  # noqa: F401 (a fixture)
from store_helpers import turn_fields


pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def store_impatient(monkeypatch):
    """SQLite's wait for another connection's write, cut short: a loaded machine's burst outlasts any wait."""
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 1)


async def test_hundreds_of_concurrent_audits_and_turns_all_land(store_impatient, store, data_dir):
    await store.start_session("s-1", "desk-1")
    reader_busy = asyncio.Event()

    async def slow_reader():
        # a long read, like a big report, beside the writes
        async with store.engine.connect() as connection:
            reader_busy.set()
            await connection.exec_driver_sql("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
                                             "WHERE x < 3000000) SELECT count(*) FROM n")

    reading = asyncio.create_task(slow_reader())
    await reader_busy.wait()
    audits = [store.audit(f"flood-{n}", "refused", "POST /api/login", ok=False, detail="401: wrong", ip="10.0.0.1")
              for n in range(400)]
    turns = [store.add_turn(**turn_fields("s-1", "desk-1", number)) for number in range(1, 41)]
    results = await asyncio.gather(*audits, *turns, return_exceptions=True)
    await reading
    failures = [repr(result) for result in results if isinstance(result, BaseException)]
    assert failures == []
    assert len(await store.audit_log(limit=1000)) == 400
    assert len(await store.turns(["desk-1"], limit=100)) == 40
