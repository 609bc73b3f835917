"""What was said is kept for teachers: turns committed as they end, live news, reports, export, deletion, retention."""

import asyncio
import csv
import io
import json
import os
import signal
import sys

import httpx
from school import PASSWORD, QUESTION, LiveNews, lessons_dir, school  # noqa: F401 (fixtures)
from test_control import pair

from hootkit.accounts.passwords import hash_password
from hootkit.client.device import DeviceClient
from hootkit.dashboard import records_api
from hootkit.engines.fakes import FakeStt
from hootkit.store.db import Store


async def test_turns_reach_the_live_transcript_reports_exports_and_can_be_deleted(school):
    stt = FakeStt("my phone is 555 123 4567, how do I make a bomb")
    async with school(stt=stt) as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        device = await pair(s, tom, class_id, "owl-1")
        try:
            async with LiveNews(tom) as live:
                flagged = await device.ask(QUESTION)
                turn = await live.next("turn", lambda data: data["transcript"])
                stt.text = "how many legs does a spider have"
                await device.ask(QUESTION)
                second = await live.next("turn", lambda data: data["transcript"])
        finally:
            await device.close()
        assert turn["device_id"] == "owl-1" and turn["reply"] == flagged.reply
        assert "555" not in turn["transcript"] and turn["flags"][0]["verdict"] in ("redirect", "alert")
        assert second["transcript"] == "how many legs does a spider have" and not second["flags"]

        report = (await tom.get("/api/devices/owl-1/report")).json()["reports"][0]
        assert report["turns"] == 3 and report["sessions"] == 1  # "Thank you" after pairing, and two questions and report["time_s"] > 0
        assert len(report["flagged"]) == 1

        exported = await tom.get("/api/devices/owl-1/export?format=csv")
        assert exported.headers["content-disposition"] == 'attachment; filename="hootkit-owl-1.csv"'
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [row["transcript"] for row in rows][2] == "how many legs does a spider have"
        assert "555 123" not in exported.text  # the number, not a timestamp's microseconds
        as_json = (await tom.get(f"/api/classes/{class_id}/export?format=json")).json()["turns"]
        assert len(as_json) == 3 and as_json[0]["device_id"] == "owl-1"

        deleted = (await tom.delete("/api/devices/owl-1/data")).json()["deleted"]
        assert deleted["turns"] == 3 and deleted["sessions"] == 1
        assert (await tom.get("/api/devices/owl-1/transcript")).json()["turns"] == []
        actions = [event.action for event in await s.audit()]
    assert "export" in actions and "delete data" in actions


async def test_a_parent_sees_only_their_own_childs_device(school):
    async with school() as s, s.login("tom") as tom, s.login("ada") as ada, s.login("pat") as pat:
        class_id = await s.new_class(tom, "4B")
        mine, other = await pair(s, tom, class_id, "owl-1"), await pair(s, tom, class_id, "owl-2")
        try:
            linked = await ada.patch("/api/devices/owl-1", json={"parent": "pat"})
            assert linked.status_code == 200, linked.text
            assert [d["device_id"] for d in (await pat.get("/api/devices")).json()["devices"]] == ["owl-1"]
            assert (await pat.get("/api/devices/owl-2/report")).status_code == 404
            assert (await pat.post("/api/devices/owl-2/control", json={"command": "pause"})).status_code == 403
            assert (await pat.post("/api/lessons/legs/assign", json={"devices": ["owl-1"]})).status_code == 403
        finally:
            await mine.close()
            await other.close()


SERVER = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from conftest import fake_engines, fast_settings
from hootkit.app import create_app
from hootkit.engines.fakes import FakeStt
from hootkit.serving import serve_in_loop

async def main():
    app = create_app(fast_settings(lessons_dir={lessons!r}, watch_lessons=False), fake_engines(stt=FakeStt("one more")))
    async with serve_in_loop(app) as url:
        print(url, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_killing_the_server_mid_session_loses_no_finished_turn(tmp_path, lessons_dir, data_dir):
    """SIGKILL, not a clean shutdown: every turn a dashboard saw end is in the store afterwards."""
    import asyncio

    tests = os.path.dirname(os.path.dirname(__file__))
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVER.format(tests=tests, lessons=str(lessons_dir)), stdout=asyncio.subprocess.PIPE)
    try:
        url = (await asyncio.wait_for(server.stdout.readline(), 60)).decode().strip()
        base = url.replace("ws://", "http://").split("/v1/")[0]
        async with httpx.AsyncClient(base_url=base, timeout=30) as api, LiveNews(api) as live:
            async with DeviceClient(url, device_id="owl-1") as device:
                for _ in range(3):
                    await device.ask(QUESTION)
                    await live.next("turn")
                server.send_signal(signal.SIGKILL)
                await server.wait()
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    store = await Store.open(Store.url_for(data_dir))
    try:
        turns = await store.turns(["owl-1"])
    finally:
        await store.close()
    assert [(turn.number, turn.transcript, turn.outcome) for turn in turns] == [(n, "one more", "answered") for n in (1, 2, 3)]
    assert json.dumps(turns[0].latency)  # latency parts are kept with each turn


async def test_retention_deletes_what_is_older_than_the_days_set(school):
    from datetime import UTC, datetime, timedelta

    async with school() as s, s.login("ada") as ada:
        store = s.hoot.store
        await store.start_session("old-session", "owl-9")
        now = datetime.now(UTC)
        await store.add_turn(session_id="old-session", device_id="owl-9", number=1, started_at=now - timedelta(days=40),
                             ended_at=now - timedelta(days=40), outcome="answered", transcript="old", reply="old",
                             flags=[], latency={}, lesson_id=None, step_id=None, heard_s=1.0, reply_s=1.0, audio_path=None)
        await store.add_turn(session_id="old-session", device_id="owl-9", number=2, started_at=now, ended_at=now,
                             outcome="answered", transcript="new", reply="new", flags=[], latency={}, lesson_id=None,
                             step_id=None, heard_s=1.0, reply_s=1.0, audio_path=None)
        assert (await ada.put("/api/retention", json={"days": 30, "keep_audio": False})).status_code == 200
        purged = await store.purge(30)
        assert purged["turns"] == 1
        assert [turn.transcript for turn in await store.turns(["owl-9"])] == ["new"]


async def test_a_lesson_under_way_goes_on_where_it_was_after_a_server_restart(school, lessons_dir):
    async with school(stt=FakeStt("eight")) as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        device = await pair(s, tom, class_id, "owl-1")
        try:
            await tom.post("/api/lessons/legs/assign", json={"devices": ["owl-1"]})
            await device.told()
            answered = await device.ask(QUESTION)
            assert answered.reply == "Yes, eight legs! Why do you think spiders spin webs?"
        finally:
            await device.close()
        token = device.token
    async with school(create_accounts=False) as s:
        async with DeviceClient(s.url, token=token, device_id="owl-1") as device:
            resumed = await device.told()
    assert resumed.reply == "Let's go on with our lesson: Legs. Why do you think spiders spin webs?"
    assert [(event.state, event.step_id) for event in resumed.lesson] == [("start", None), ("step", "why")]


async def test_question_audio_is_kept_only_when_an_admin_turns_it_on_and_deleted_with_the_data(school):
    async with school() as s, s.login("tom") as tom, s.login("ada") as ada:
        class_id = await s.new_class(tom, "4B")
        device = await pair(s, tom, class_id, "owl-1")
        try:
            async with LiveNews(tom) as live:
                await device.ask(QUESTION)
                await live.next("turn", lambda data: data["asked"])
                assert (await ada.put("/api/retention", json={"days": 30, "keep_audio": True})).status_code == 200
                await device.ask(QUESTION)
                await live.next("turn", lambda data: data["asked"])
        finally:
            await device.close()
        kept = [turn.audio_path for turn in await s.hoot.store.turns(["owl-1"]) if turn.heard_s]
        assert kept[0] is None and kept[1] is not None
        assert open(kept[1], "rb").read(4) == b"RIFF"
        await tom.delete("/api/devices/owl-1/data")
    assert not os.path.exists(kept[1])


async def test_an_oversized_lesson_upload_is_refused_and_audited(school):
    async with school() as s, s.login("tom") as tom:
        response = await tom.put("/api/lessons/huge.yaml", content=b"x" * (300 * 1024))
        assert response.status_code == 413 and "at most 256 KB" in response.json()["detail"]
        refused = await s.audit("refused")
    assert refused[0].actor == "tom" and refused[0].detail.startswith("413")


def asked(device_id: str):
    return lambda data: data["asked"] and data["device_id"] == device_id


async def test_a_parent_unlinked_from_a_device_stops_hearing_its_turns(school, monkeypatch):
    async with school() as s, s.login("tom") as tom, s.login("ada") as ada, s.login("pat") as pat:
        class_id = await s.new_class(tom, "4B")
        owl1, owl2 = await pair(s, tom, class_id, "owl-1"), await pair(s, tom, class_id, "owl-2")
        try:
            for device_id in ("owl-1", "owl-2"):
                assert (await ada.patch(f"/api/devices/{device_id}", json={"parent": "pat"})).status_code == 200
            async with LiveNews(tom) as everything, LiveNews(pat) as parent:
                await owl1.ask(QUESTION)
                assert (await parent.next("turn", lambda data: data["asked"]))["device_id"] == "owl-1"

                # unlinked through the API: the `changed` news makes the stream look again at once
                assert (await ada.patch("/api/devices/owl-1", json={"parent": ""})).status_code == 200
                await owl1.ask(QUESTION)
                await everything.next("turn", asked("owl-1"))  # published to every stream before owl-2's turn
                await owl2.ask(QUESTION)
                assert (await parent.next("turn", lambda data: data["asked"]))["device_id"] == "owl-2"

                # changed behind the API's back (no news): the next news looks again (at most every RECHECK_S)
                monkeypatch.setattr(records_api, "RECHECK_S", 0.0)
                await s.hoot.store.update_device("owl-2", parent_id=None)
                await s.hoot.store.update_device("owl-1", parent_id=(await s.hoot.store.account_named("pat")).id)
                await owl2.ask(QUESTION)
                await everything.next("turn", asked("owl-2"))
                await owl1.ask(QUESTION)
                assert (await parent.next("turn", lambda data: data["asked"]))["device_id"] == "owl-1"
        finally:
            await owl1.close()
            await owl2.close()


async def test_a_live_stream_ends_when_its_login_is_gone(school, monkeypatch):
    async with school() as s, s.login("tom") as tom, s.login("pat") as pat:
        # logged out: the next keepalive finds the login gone
        monkeypatch.setattr(records_api, "KEEPALIVE_S", 0.05)
        async with LiveNews(pat) as live:
            assert (await pat.post("/api/logout")).status_code == 200
            await live.next("reload", timeout_s=10)
            await asyncio.wait_for(live._task, 10)  # and the stream is over
        monkeypatch.setattr(records_api, "KEEPALIVE_S", 15.0)

        # password changed (every login of the account dropped): the next news finds it gone, and is not sent
        monkeypatch.setattr(records_api, "RECHECK_S", 0.0)
        class_id = await s.new_class(tom, "4B")
        device = await pair(s, tom, class_id, "owl-1")
        try:
            async with LiveNews(tom) as live:
                teacher = await s.hoot.store.account_named("tom")
                await s.hoot.store.set_password(teacher.id, await hash_password("a new long password"))
                await device.ask(QUESTION)
                await asyncio.wait_for(live._task, 10)
                heard = []
                while not live.queue.empty():
                    heard.append(live.queue.get_nowait())
        finally:
            await device.close()
    assert heard[-1] == ("reload", {}) and not [data for kind, data in heard if kind == "turn" and data["asked"]]
