"""The same store on PostgreSQL (asyncpg), on a throwaway cluster; skipped where PostgreSQL is not installed (a failure under CI=true)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from store_fixtures import postgres_url  # noqa: F401 (a fixture)
from store_helpers import FLAG, head_revision, schema_state, talk, turn_fields

from hootkit.store.db import Conflict, Store


@pytest.fixture
async def pg_store(postgres_url):
    opened = await Store.open(postgres_url)
    yield opened
    await opened.close()


async def test_migrated_schema_matches_the_tables(pg_store):
    revision, differences = await schema_state(pg_store)
    assert revision == head_revision()
    assert differences == []


async def test_round_trip(pg_store):
    tom = await pg_store.add_account("tom", "hash", "teacher")
    with pytest.raises(Conflict):
        await pg_store.add_account("tom", "other", "parent")
    await pg_store.add_login("cookie", tom.id, "csrf", datetime.now(UTC) + timedelta(hours=1))
    assert (await pg_store.login("cookie"))[0].username == "tom"
    owls = await pg_store.add_class("Owls", tom.id)
    await pg_store.pair_device("aa:bb", "Desk 1", owls.id, "token")
    assert (await pg_store.device_by_token("token")).class_id == owls.id
    await pg_store.add_assignment("aa:bb", "legs", "Legs", 3, "tom")
    await talk(pg_store, "aa:bb", "pg-session", 2, flags=[{"stage": "input", "verdict": "redirect",
                                                            "category": "personal", "text": "..."}])
    [turn, _] = await pg_store.turns(["aa:bb"])
    assert turn.started_at.tzinfo is not None and turn.latency == {"stt": 300, "llm": 50}
    [report] = await pg_store.report(["aa:bb"])
    assert (report["sessions"], report["turns"], report["time_s"], len(report["flagged"])) == (1, 2, 7.0, 2)
    assert [lesson["lesson_id"] for lesson in report["lessons"]] == ["legs"]
    await pg_store.set_setting("retention", {"days": 7})
    assert await pg_store.get_setting("retention", None) == {"days": 7}
    assert await pg_store.delete_data(["aa:bb"]) == {"turns": 2, "sessions": 1, "assignments": 1}
    assert await pg_store.purge(30) == {"turns": 0, "sessions": 0, "assignments": 0, "audit": 0}


async def test_a_turn_whose_commit_is_retried_is_kept_once(pg_store):
    await pg_store.start_session("s1", "d1")
    await pg_store.start_session("s1", "d1")
    first = await pg_store.add_turn(**turn_fields("s1", "d1", 1))
    assert await pg_store.add_turn(**turn_fields("s1", "d1", 1)) == first
    assert [(turn.session_id, turn.number) for turn in await pg_store.turns(["d1"])] == [("s1", 1)]
    assert (await pg_store.report(["d1"]))[0]["sessions"] == 1


async def test_report_and_export_pick_the_flagged_turns_and_keep_the_order(pg_store):
    # the report's SQL filter reads PostgreSQL's json text, and the export streams a server-side cursor in pages
    await talk(pg_store, "b", "s-b", 3, flags=[FLAG])
    await talk(pg_store, "a", "s-a1", 3)
    await talk(pg_store, "a", "s-a2", 2, flags=[FLAG], step_id="why")
    first, second, nobody = await pg_store.report(["a", "b", "c"])
    assert (first["sessions"], first["turns"], first["time_s"]) == (2, 5, 17.5)
    assert [(turn["session_id"], turn["number"], turn["step_id"]) for turn in first["flagged"]] == [
        ("s-a2", 1, "why"), ("s-a2", 2, "why")]
    assert [turn["number"] for turn in second["flagged"]] == [1, 2, 3]
    assert nobody == {"device_id": "c", "sessions": 0, "time_s": 0, "turns": 0, "flagged": [], "lessons": []}
    rows = await pg_store.export_rows(["b", "a"])
    assert [(row["device_id"], row["session_id"], row["number"]) for row in rows] == [
        ("a", "s-a1", 1), ("a", "s-a1", 2), ("a", "s-a1", 3), ("a", "s-a2", 1), ("a", "s-a2", 2),
        ("b", "s-b", 1), ("b", "s-b", 2), ("b", "s-b", 3)]


async def test_the_bus_key_is_made_once_and_shared_by_every_server(postgres_url):
    first, second = await Store.open(postgres_url), await Store.open(postgres_url)
    try:
        keys = [await first.shared_key("a key"), await second.shared_key("a key"), await first.shared_key("a key")]
        assert len(keys[0]) == 32 and keys.count(keys[0]) == 3
        assert await second.shared_key("another key") != keys[0]
    finally:
        await first.close()
        await second.close()


async def test_holds_given_at_once_on_one_device_all_succeed(pg_store):
    """A class pause and a device stop by two teachers, or a double click: each is kept, the last one wins."""
    commands = ["pause", "stop"] * 10
    await asyncio.gather(*(pg_store.hold(["owl-1", "owl-2"], command, "tom") for command in commands))
    assert set((await pg_store.holds()).values()) <= {"pause", "stop"} and len(await pg_store.holds()) == 2


async def test_holds_are_kept_replaced_and_let_go(pg_store):
    await pg_store.hold(["owl-1", "owl-2"], "pause", "tom")
    await pg_store.hold(["owl-2"], "stop", "tom")
    assert await pg_store.holds() == {"owl-1": "pause", "owl-2": "stop"}
    await pg_store.hold(["owl-1", "owl-3"], "resume", "tom")
    assert await pg_store.holds() == {"owl-2": "stop"}


async def test_a_pairing_code_is_shown_by_one_server_at_a_time_until_it_lets_go_or_goes_silent(pg_store):
    assert await pg_store.reserve_code("123456", "server-a", 35.0)
    assert await pg_store.reserve_code("654321", "server-a", 35.0)
    assert not await pg_store.reserve_code("123456", "server-b", 35.0)  # A shows it
    await pg_store.keep_codes("server-a", ["654321"])  # A's device with 123456 is gone
    assert await pg_store.reserve_code("123456", "server-b", 35.0)
    assert not await pg_store.reserve_code("654321", "server-b", 35.0)  # still A's, renewed
    assert await pg_store.reserve_code("654321", "server-c", 0.0)  # as if A had not renewed it for too long


@pytest.mark.timeout(60)
async def test_servers_starting_together_migrate_a_new_database_once(postgres_url):
    """Every `hoot serve` of a compose file starts at once, on an empty database."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from hootkit.store.bus import _asyncpg_dsn

    url = make_url(postgres_url)
    admin = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await admin.execute("CREATE DATABASE started_together")
    finally:
        await admin.close()
    fresh = url.set(database="started_together").render_as_string(hide_password=False)
    stores = await asyncio.gather(*(Store.open(fresh) for _ in range(3)), return_exceptions=True)
    try:
        assert not [store for store in stores if isinstance(store, BaseException)], stores
        assert (await schema_state(stores[0]))[0] == head_revision()
    finally:
        for store in stores:
            if not isinstance(store, BaseException):
                await store.close()
