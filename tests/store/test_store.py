"""The store on a real SQLite file: accounts to settings, each write durable when its call returns."""

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from store_fixtures import store  # noqa: F401 (a fixture)
from store_helpers import talk, turn_fields

from hootkit.store.db import Conflict, Store
from hootkit.store.export import to_csv


def rows_in(data_dir, query: str) -> list[tuple]:
    """Read the database file with a plain sqlite3 connection: what another process would see."""
    with sqlite3.connect(data_dir / "hootkit.db") as connection:
        return connection.execute(query).fetchall()


async def test_url_for_names_the_database_in_the_data_folder(tmp_path):
    assert Store.url_for(tmp_path) == f"sqlite+aiosqlite:///{tmp_path.resolve()}/hootkit.db"


async def test_open_creates_the_folder_and_turns_on_wal_and_foreign_keys(store, data_dir):
    assert (data_dir / "hootkit.db").exists()
    async with store.engine.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar() > 0


async def test_accounts(store):
    ada = await store.add_account("ada", "hash-1", "admin")
    tom = await store.add_account("tom", "hash-2", "teacher")
    assert ada.id != tom.id and ada.created_at.tzinfo is not None
    with pytest.raises(Conflict):
        await store.add_account("ada", "hash-3", "parent")
    assert (await store.account(tom.id)).username == "tom"
    assert (await store.account_named("ada")).role == "admin"
    assert await store.account_named("nobody") is None
    assert [account.username for account in await store.accounts()] == ["ada", "tom"]
    assert await store.count_accounts() == 2
    await store.set_password(tom.id, "hash-new")
    assert (await store.account(tom.id)).password_hash == "hash-new"


async def test_a_login_lasts_until_it_expires_or_is_dropped(store, data_dir):
    ada = await store.add_account("ada", "hash", "admin")
    now = datetime.now(UTC)
    await store.add_login("live", ada.id, "csrf-1", now + timedelta(hours=1))
    await store.add_login("stale", ada.id, "csrf-2", now - timedelta(seconds=1))
    account, login = await store.login("live")
    assert (account.username, login.csrf) == ("ada", "csrf-1")
    assert login.expires_at.tzinfo is not None
    assert await store.login("stale") is None
    assert rows_in(data_dir, "SELECT token_hash FROM logins") == [("live",)]
    assert await store.login("never") is None
    await store.drop_login("live")
    assert await store.login("live") is None


async def test_a_new_password_ends_the_account_logins(store):
    ada = await store.add_account("ada", "hash", "admin")
    await store.add_login("cookie", ada.id, "csrf", datetime.now(UTC) + timedelta(hours=1))
    await store.set_password(ada.id, "other")
    assert await store.login("cookie") is None


async def test_classes(store):
    tom = await store.add_account("tom", "hash", "teacher")
    owls = await store.add_class("Owls", tom.id)
    await store.add_class("Bats", None)
    assert (await store.class_(owls.id)).name == "Owls"
    assert await store.class_(owls.id + 100) is None
    assert [room.name for room in await store.classes()] == ["Bats", "Owls"]
    assert [room.name for room in await store.classes(teacher_id=tom.id)] == ["Owls"]


async def test_pairing_and_finding_a_device_by_token(store):
    owls = await store.add_class("Owls", None)
    first = await store.pair_device("aa:bb", "Desk 1", owls.id, "token-1")
    assert first.paired_at is not None and first.last_seen is None
    assert (await store.device_by_token("token-1")).id == "aa:bb"
    with pytest.raises(Conflict, match="aa:bb is already paired: forget it first"):
        await store.pair_device("aa:bb", "Desk 2", None, "token-2")  # never over a paired record
    assert (await store.device("aa:bb")).token_hash == "token-1"
    assert await store.forget_device("aa:bb") and not await store.forget_device("aa:bb")
    again = await store.pair_device("aa:bb", "Desk 2", None, "token-2")
    assert (again.name, again.class_id) == ("Desk 2", None)
    assert await store.device_by_token("token-1") is None
    assert (await store.device_by_token("token-2")).name == "Desk 2"
    assert [device.id for device in await store.devices()] == ["aa:bb"]


async def test_devices_by_class_and_parent_and_their_changes(store):
    owls, bats = await store.add_class("Owls", None), await store.add_class("Bats", None)
    mum = await store.add_account("mum", "hash", "parent")
    await store.pair_device("d1", "Ann", owls.id, "t1")
    await store.pair_device("d2", "Ben", bats.id, "t2")
    await store.pair_device("d3", "Cat", owls.id, "t3")
    await store.update_device("d2", parent_id=mum.id, name="Benny")
    assert [device.id for device in await store.devices(class_ids=[owls.id])] == ["d1", "d3"]
    assert [device.name for device in await store.devices(parent_id=mum.id)] == ["Benny"]
    assert await store.devices(class_ids=[]) == []
    await store.seen("d1")
    assert (await store.device("d1")).last_seen.tzinfo is not None
    await store.forget_device("d3")
    assert await store.device("d3") is None
    assert await store.device_by_token("t3") is None


async def test_deleting_a_class_or_parent_unlinks_their_devices(store, data_dir):
    owls = await store.add_class("Owls", None)
    mum = await store.add_account("mum", "hash", "parent")
    await store.pair_device("d1", "Ann", owls.id, "t1")
    await store.update_device("d1", parent_id=mum.id)
    with sqlite3.connect(data_dir / "hootkit.db") as connection:
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("DELETE FROM classes")
        connection.execute("DELETE FROM accounts")
    device = await store.device("d1")
    assert (device.class_id, device.parent_id) == (None, None)


async def test_a_new_assignment_ends_the_open_one(store):
    first = await store.add_assignment("d1", "legs", "Legs", 3, "tom")
    assert (first.step, first.finished, first.quiz, first.ended_at) == (0, False, [], None)
    second = await store.add_assignment("d1", "webs", "Webs", 2, "cli")
    await store.add_assignment("d2", "legs", "Legs", 3, "tom")
    assert (await store.open_assignment("d1")).id == second.id
    listed = await store.assignments(["d1"])
    assert [assignment.lesson_id for assignment in listed] == ["webs", "legs"]
    assert listed[1].ended_at is not None and listed[0].ended_at is None
    await store.end_assignment("d1")
    assert await store.open_assignment("d1") is None
    assert (await store.open_assignment("d2")).lesson_id == "legs"


async def test_assignment_progress_and_finishing(store):
    assignment = await store.add_assignment("d1", "legs", "Legs", 3, "tom")
    quiz = [{"step_id": "spider-legs", "correct": True}]
    await store.update_assignment(assignment.id, 1, False, quiz)
    progress = await store.open_assignment("d1")
    assert (progress.step, progress.finished, progress.quiz) == (1, False, quiz)
    await store.update_assignment(assignment.id, 3, True, quiz)
    assert await store.open_assignment("d1") is None
    [done] = await store.assignments(["d1"])
    assert done.finished and done.ended_at is not None


async def test_a_turn_is_on_disk_when_add_turn_returns(store, data_dir):
    await store.start_session("s1", "d1")
    turn_id = await store.add_turn(**turn_fields("s1", "d1", 1, transcript="How many legs?"))
    assert isinstance(turn_id, int)
    assert rows_in(data_dir, "SELECT id, transcript FROM turns") == [(turn_id, "How many legs?")]
    second = await Store.open(Store.url_for(data_dir))
    try:
        [turn] = await second.turns(["d1"])
        assert (turn.transcript, turn.latency) == ("How many legs?", {"stt": 300, "llm": 50})
        assert turn.started_at.tzinfo == UTC
    finally:
        await second.close()


async def test_turns_are_the_newest_in_order_and_sessions_end(store, data_dir):
    start = datetime.now(UTC) - timedelta(minutes=10)
    await store.start_session("s1", "d1")
    for number in range(1, 6):
        await store.add_turn(**turn_fields("s1", "d1", number, at=start + timedelta(seconds=number)))
    await talk(store, "d2", "s2", 1)
    assert [turn.number for turn in await store.turns(["d1"], limit=3)] == [3, 4, 5]
    assert len(await store.turns(["d1", "d2"])) == 6
    await store.end_session("s1")
    assert rows_in(data_dir, "SELECT ended_at IS NOT NULL FROM sessions WHERE id = 's1'") == [(1,)]


async def test_report_counts_sessions_time_turns_flags_and_lessons(store):
    flag = {"stage": "input", "verdict": "redirect", "category": "personal", "text": "my address is ..."}
    await talk(store, "d1", "s1", 2)
    await talk(store, "d1", "s2", 1, flags=[flag], lesson_id="legs", step_id="why")
    assignment = await store.add_assignment("d1", "legs", "Legs", 3, "tom")
    await store.update_assignment(assignment.id, 2, False, [{"step_id": "spider-legs", "correct": False}])
    first, quiet = await store.report(["d1", "d2"])
    assert (first["device_id"], first["sessions"], first["turns"], first["time_s"]) == ("d1", 2, 3, 10.5)
    [flagged] = first["flagged"]
    assert (flagged["flags"], flagged["step_id"], flagged["session_id"]) == ([flag], "why", "s2")
    [lesson] = first["lessons"]
    assert {key: lesson[key] for key in ("lesson_id", "title", "step", "steps", "finished", "quiz", "ended_at")} == {
        "lesson_id": "legs", "title": "Legs", "step": 2, "steps": 3, "finished": False,
        "quiz": [{"step_id": "spider-legs", "correct": False}], "ended_at": None}
    datetime.fromisoformat(lesson["assigned_at"])
    assert quiet == {"device_id": "d2", "sessions": 0, "time_s": 0, "turns": 0, "flagged": [], "lessons": []}


async def test_export_rows_and_csv(store):
    flag = {"stage": "output", "verdict": "block", "category": "violence", "text": "ä scary reply"}
    await talk(store, "d1", "s1", 2, flags=[flag])
    await talk(store, "d2", "s2", 1, transcript='a "quoted", comma')
    await talk(store, "d3", "s3", 1)
    rows = await store.export_rows(["d1", "d2"])
    assert [(row["device_id"], row["number"]) for row in rows] == [("d1", 1), ("d1", 2), ("d2", 1)]
    assert set(rows[0]) == {"device_id", "session_id", "number", "started_at", "ended_at", "outcome", "error", "transcript",
                            "reply", "flags", "lesson_id", "step_id", "heard_s", "reply_s", "latency"}
    assert datetime.fromisoformat(rows[0]["started_at"]).tzinfo is not None
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert len(parsed) == 3
    assert json.loads(parsed[0]["flags"]) == [flag]
    assert json.loads(parsed[0]["latency"]) == {"stt": 300, "llm": 50}
    assert parsed[2]["transcript"] == 'a "quoted", comma'
    assert (parsed[2]["number"], parsed[2]["heard_s"], parsed[2]["lesson_id"]) == ("1", "1.5", "")
    assert to_csv([]).strip() == ",".join(rows[0])


async def test_delete_data_removes_turns_sessions_assignments_and_audio(store, tmp_path):
    audio = tmp_path / "turn.wav"
    audio.write_bytes(b"RIFF")
    await talk(store, "d1", "s1", 2, audio_path=str(audio))
    await talk(store, "d2", "s2", 1)
    await store.add_assignment("d1", "legs", "Legs", 3, "tom")
    await store.pair_device("d1", "Ann", None, "t1")
    deleted = await store.delete_data(["d1"])
    assert deleted == {"turns": 2, "sessions": 1, "assignments": 1}
    assert not audio.exists()
    assert await store.turns(["d1"]) == [] and await store.assignments(["d1"]) == []
    assert (await store.report(["d1"]))[0]["sessions"] == 0
    assert len(await store.turns(["d2"])) == 1
    assert await store.device("d1") is not None


async def test_purge_deletes_what_is_older_than_the_retention(store, data_dir, tmp_path):
    old = datetime.now(UTC) - timedelta(days=40)
    audio = tmp_path / "old.wav"
    audio.write_bytes(b"RIFF")
    await talk(store, "d1", "old", 1, at=old, audio_path=str(audio))
    await store.end_session("old")
    await talk(store, "d1", "new", 1)
    await store.end_session("new")
    await store.add_assignment("d1", "legs", "Legs", 3, "tom")
    await store.add_assignment("d1", "webs", "Webs", 3, "tom")
    await store.audit("ada", "login")
    await store.audit("ada", "export")
    old_text = old.strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(data_dir / "hootkit.db") as connection:
        connection.execute("UPDATE sessions SET started_at = ?, ended_at = ? WHERE id = 'old'", (old_text, old_text))
        connection.execute("UPDATE assignments SET ended_at = ? WHERE ended_at IS NOT NULL", (old_text,))
        connection.execute("UPDATE audit SET at = ? WHERE action = 'login'", (old_text,))
    purged = await store.purge(30)
    assert purged == {"turns": 1, "sessions": 1, "assignments": 1, "audit": 1}
    assert not audio.exists()
    assert [turn.transcript for turn in await store.turns(["d1"])] == ["question 1"]
    assert rows_in(data_dir, "SELECT id FROM sessions") == [("new",)]
    assert (await store.open_assignment("d1")).lesson_id == "webs"
    assert [event.action for event in await store.audit_log()] == ["export"]
    assert await store.purge(30) == {"turns": 0, "sessions": 0, "assignments": 0, "audit": 0}


async def test_purge_keeps_an_old_session_that_still_has_recent_turns(store, data_dir):
    await talk(store, "d1", "long", 1)
    await store.end_session("long")
    old_text = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(data_dir / "hootkit.db") as connection:
        connection.execute("UPDATE sessions SET ended_at = ?", (old_text,))
    assert (await store.purge(30))["sessions"] == 0


async def test_audit_log_is_newest_first(store):
    await store.audit("ada", "login", ip="127.0.0.1")
    await store.audit("tom", "pair", "d1", ok=False, detail="wrong code")
    await store.audit("cli", "create account", "teacher tom")
    events = await store.audit_log()
    assert [event.action for event in events] == ["create account", "pair", "login"]
    pair = events[1]
    assert (pair.actor, pair.target, pair.ok, pair.detail, pair.ip) == ("tom", "d1", False, "wrong code", "")
    assert events[2].ip == "127.0.0.1" and events[2].at.tzinfo is not None
    assert [event.action for event in await store.audit_log(limit=1)] == ["create account"]


async def test_settings_round_trip(store, data_dir):
    assert await store.get_setting("retention", {"days": 30}) == {"days": 30}
    await store.set_setting("retention", {"days": 7, "keep_audio": False})
    await store.set_setting("retention", {"days": 14, "keep_audio": True})
    assert await store.get_setting("retention", None) == {"days": 14, "keep_audio": True}
    again = await Store.open(Store.url_for(data_dir))
    try:
        assert await again.get_setting("retention", None) == {"days": 14, "keep_audio": True}
    finally:
        await again.close()


async def test_a_turn_or_session_written_again_is_kept_once(store, data_dir):
    """A commit retried after its acknowledgement was lost (the recorder tries again) finds its row there."""
    await store.start_session("s1", "d1")
    await store.start_session("s1", "d1")
    first = await store.add_turn(**turn_fields("s1", "d1", 1, transcript="How many legs?"))
    again = await store.add_turn(**turn_fields("s1", "d1", 1, transcript="How many legs?"))
    await store.start_session("s2", "d1")
    other_session = await store.add_turn(**turn_fields("s2", "d1", 1))
    assert again == first != other_session
    assert rows_in(data_dir, "SELECT session_id, number FROM turns ORDER BY id") == [("s1", 1), ("s2", 1)]
    assert rows_in(data_dir, "SELECT id FROM sessions ORDER BY id") == [("s1",), ("s2",)]
