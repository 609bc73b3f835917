"""A burst of writes (a login flood's audit rows beside children's turns) all land on SQLite: none is refused as
"database is locked" while other writes of the same server wait their turn."""

import asyncio

import httpx
import pytest
from conftest import fake_engines, fast_settings

from hootkit.app import create_app
from hootkit.gateway.recorder import may_pass
from hootkit.serving import serve_in_loop
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


async def test_a_write_that_waits_too_long_behind_others_gives_up_and_the_next_one_lands(store, monkeypatch):
    monkeypatch.setattr(db, "WRITE_WAIT_S", 0.2)
    await store._one_writer.acquire()  # an earlier write that does not end (a very slow disk)
    try:
        with pytest.raises(db.StoreBusy, match="busy"):
            await store.audit("tom", "pause", "owl-1", ip="10.0.0.1")
    finally:
        store._one_writer.release()
    await store.audit("tom", "resume", "owl-1", ip="10.0.0.1")
    assert [event.action for event in await store.audit_log()] == ["resume"]
    assert may_pass(db.StoreBusy("busy"))  # the recorder asks again later


async def test_the_api_answers_503_with_retry_after_when_the_store_is_too_busy(monkeypatch, data_dir):
    app = create_app(fast_settings(data_dir=data_dir), fake_engines())
    async with serve_in_loop(app) as url:
        base = url.replace("ws://", "http://").split("/v1/")[0]
        async with httpx.AsyncClient(base_url=base, timeout=30) as api:  # this machine, no account yet: an admin
            monkeypatch.setattr(db, "WRITE_WAIT_S", 0.2)
            writer = app.state.hoot.store._one_writer
            await writer.acquire()
            try:
                busy = await api.post("/api/classes", json={"name": "4B"})
            finally:
                writer.release()
            made = await api.post("/api/classes", json={"name": "4B"})
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5" and "busy" in busy.json()["detail"]
    assert made.status_code == 201, made.text
