"""Two Hootkit servers sharing one PostgreSQL store: a teacher logged in on either reaches a device held by the
other, through PostgreSQL's LISTEN/NOTIFY (skipped where PostgreSQL is not installed; a failure under CI=true)."""

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
from school import PASSWORD, QUESTION, LiveNews, lessons_dir, school  # noqa: F401 (fixtures)
from test_control import pair

from hootkit.accounts.passwords import hash_password
from hootkit.client.device import DeviceClient
from hootkit.engines.fakes import FakeStt
from hootkit.gateway import elsewhere
from hootkit.store.bus import CHANNEL, _asyncpg_dsn

sys.path.insert(0, str(Path(__file__).parents[1] / "store"))
from store_fixtures import postgres_url  # noqa: E402, F401 (a fixture)

pytestmark = pytest.mark.timeout(120)


async def test_a_teacher_on_one_server_watches_teaches_and_pauses_a_device_held_by_the_other(school, postgres_url,
                                                                                            tmp_path):
    async with school(store_url=postgres_url, data_dir=tmp_path / "a", stt=FakeStt("spiders")) as a, \
            school(store_url=postgres_url, data_dir=tmp_path / "b", create_accounts=False) as b, \
            a.login("tom") as tom_on_a, b.login("tom") as tom_on_b:
        class_id = await a.new_class(tom_on_a, "4B")
        async with LiveNews(tom_on_b) as live_on_b:
            device = await pair(a, tom_on_a, class_id, "owl-1")
            try:
                await live_on_b.next("device", lambda data: data["device_id"] == "owl-1" and data["online"])
                [listed] = (await tom_on_b.get("/api/devices")).json()["devices"]
                assert (listed["device_id"], listed["online"], listed["activity"]) == ("owl-1", True, "idle")

                answer = await device.ask(QUESTION)
                turn = await live_on_b.next("turn", lambda data: data["transcript"] == "spiders")
                assert turn["reply"] == answer.reply

                assigned = await tom_on_b.post("/api/lessons/legs/assign", json={"devices": ["owl-1"]})
                assert assigned.json()["devices"][0]["online"] is True
                opening = await device.told()
                assert "legs" in opening.reply.lower()
                await live_on_b.next("lesson", lambda data: data["lesson"] and data["lesson"]["lesson"] == "legs")

                paused = await tom_on_b.post("/api/devices/owl-1/control", json={"command": "pause"})
                assert paused.json()["devices"] == [{"device_id": "owl-1", "online": True, "activity": "paused"}]
                assert (await device.notice()).command == "pause"
                assert (await device.told()).reply == "Let's take a little break. Your teacher paused me."
                await live_on_b.next("device", lambda data: data["device_id"] == "owl-1" and data["paused"])

                assert (await tom_on_b.post("/api/devices/owl-1/control", json={"command": "resume"})).status_code == 200
                assert (await device.notice()).command == "resume"

                heard_on_b = messages_heard(b)
                assert (await tom_on_b.delete("/api/devices/owl-1")).status_code == 200  # forgotten on B: A lets go
                await asyncio.wait_for(asyncio.shield(device._reader), 10)
                assert (device.close_code, device.close_reason) == (4001, "this device was forgotten by a teacher: pair "
                                                                          "it again")
                while "owl-1" in b.hoot.elsewhere.online:  # until A's news that it is offline has reached B
                    await asyncio.wait_for(heard_on_b.get(), 10)
            finally:
                await device.close()
        assert (await tom_on_b.get("/api/devices")).json()["devices"] == []


def messages_heard(server, everything: bool = False) -> asyncio.Queue:
    """The kinds of the bus messages `server` hears from now on, as they are handled (not the servers' heartbeats,
    hellos and lists of devices, unless `everything`)."""
    heard: asyncio.Queue[str] = asyncio.Queue()
    bus = server.hoot.bus
    handle = bus._hear

    def hear(kind: str, data: dict, sender: str) -> None:
        handle(kind, data, sender)
        if everything or kind not in ("alive", "hello", "devices"):
            heard.put_nowait(kind)

    bus._hear = hear
    return heard


async def test_wrong_passwords_count_against_the_limit_on_every_server(school, postgres_url, tmp_path):
    async with school(store_url=postgres_url, data_dir=tmp_path / "a", create_accounts=False) as a, \
            school(store_url=postgres_url, data_dir=tmp_path / "b", create_accounts=False) as b:
        await a.hoot.store.add_account("rosa", await hash_password(PASSWORD), "teacher")  # the module shares one store
        heard_on_a = messages_heard(a)
        for server in (a, b, a, b, b):  # five wrong passwords, the limit, spread over both servers
            async with server.anonymous() as api:
                wrong = await api.post("/api/login", json={"username": "rosa", "password": "not-it"})
            assert wrong.status_code == 401
            if server is b:
                assert await asyncio.wait_for(heard_on_a.get(), 10) == "limit"
        async with a.anonymous() as api:
            right_but_locked = await api.post("/api/login", json={"username": "rosa", "password": PASSWORD})
    assert right_but_locked.status_code == 429


async def test_a_pairing_code_said_by_a_device_on_one_server_is_accepted_on_the_other(school, postgres_url, tmp_path):
    async with school(store_url=postgres_url, data_dir=tmp_path / "a", create_accounts=False) as a, \
            school(store_url=postgres_url, data_dir=tmp_path / "b", create_accounts=False) as b:
        await a.hoot.store.add_account("ines", await hash_password(PASSWORD), "teacher")
        async with a.login("ines") as ines_on_a, b.login("ines") as ines_on_b:
            class_id = await a.new_class(ines_on_a, "5C")
            device = DeviceClient(a.url, device_id="owl-7")
            await device.connect()
            try:
                code = (await device.notice()).code
                await device.told()
                wrong = await ines_on_b.post("/api/pair", json={"code": other_than(code), "class_id": class_id})
                paired = await ines_on_b.post("/api/pair", json={"code": code, "class_id": class_id, "name": "Table 7"})
                assert (await device.notice()).state == "paired"  # A, which holds it, told it
                welcome = await device.told()
                again = await ines_on_b.post("/api/pair", json={"code": code, "class_id": class_id})
            finally:
                await device.close()
        stored = await b.hoot.store.device("owl-7")
        audit = [row for row in await b.hoot.store.audit_log() if row.action == "pair" and row.target == "owl-7"]
    assert wrong.status_code == 404 and "no device is waiting" in wrong.json()["detail"]
    assert paired.status_code == 201, paired.text
    assert paired.json() == {"device_id": "owl-7", "name": "Table 7", "class_id": class_id}
    assert (stored.name, stored.class_id) == ("Table 7", class_id)
    assert "ready" in welcome.reply
    assert again.status_code == 404  # a code is used once
    assert [(row.actor, row.ok, row.detail) for row in audit] == [("ines", True, "class 5C")]


async def test_wrong_codes_sent_at_once_are_each_counted_before_the_other_servers_are_asked(school, postgres_url,
                                                                                             tmp_path):
    async with school(store_url=postgres_url, data_dir=tmp_path / "a", create_accounts=False) as a, \
            school(store_url=postgres_url, data_dir=tmp_path / "b", create_accounts=False) as b:
        await a.hoot.store.add_account("olga", await hash_password(PASSWORD), "teacher")
        async with b.login("olga") as olga:
            class_id = await b.new_class(olga, "6A")
            guesses = await asyncio.gather(*(olga.post("/api/pair", json={"code": f"{n:06d}", "class_id": class_id})
                                             for n in range(15)))  # no device waits anywhere: every one is wrong
    statuses = sorted(guess.status_code for guess in guesses)
    assert statuses == [404] * 10 + [429] * 5  # the limit is 10 wrong codes in 10 minutes


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_a_server_started_later_learns_which_devices_the_others_hold(school, postgres_url, tmp_path):
    async with school(store_url=postgres_url, data_dir=tmp_path / "a", create_accounts=False) as a:
        await a.hoot.store.add_account("uma", await hash_password(PASSWORD), "teacher")
        async with a.login("uma") as uma_on_a:
            device = await pair(a, uma_on_a, await a.new_class(uma_on_a, "2D"), "owl-9")
            try:
                async with school(store_url=postgres_url, data_dir=tmp_path / "c", create_accounts=False) as c:
                    heard_on_c = messages_heard(c, everything=True)
                    while "owl-9" not in c.hoot.elsewhere.online:  # A answers C's hello; the device did nothing
                        await asyncio.wait_for(heard_on_c.get(), 10)
                    async with c.login("uma") as uma_on_c:
                        [listed] = (await uma_on_c.get("/api/devices")).json()["devices"]
            finally:
                await device.close()
    assert (listed["device_id"], listed["online"], listed["activity"]) == ("owl-9", True, "idle")


async def test_the_devices_of_a_server_gone_silent_are_shown_offline(school, postgres_url, tmp_path, monkeypatch):
    """Heartbeats every 0.2 s here (10 s in service): once A stops sending (as if it had crashed), B shows its
    device offline after GONE_S."""
    monkeypatch.setattr(elsewhere, "ALIVE_S", 0.2)
    monkeypatch.setattr(elsewhere, "GONE_S", 3.0)
    async with school(store_url=postgres_url, data_dir=tmp_path / "a", create_accounts=False) as a, \
            school(store_url=postgres_url, data_dir=tmp_path / "b", create_accounts=False) as b:
        await a.hoot.store.add_account("vic", await hash_password(PASSWORD), "teacher")
        async with a.login("vic") as vic_on_a, b.login("vic") as vic_on_b, LiveNews(vic_on_b) as live_on_b:
            heard_on_b = messages_heard(b, everything=True)
            device = await pair(a, vic_on_a, await a.new_class(vic_on_a, "3E"), "owl-10")
            try:
                await live_on_b.next("device", lambda data: data["device_id"] == "owl-10" and data["online"])
                while await asyncio.wait_for(heard_on_b.get(), 10) != "alive":  # A's heartbeat reaches B
                    pass
                for task in a.hoot.bus._tasks:  # A can tell nobody anything from now on
                    task.cancel()
                gone = await live_on_b.next("device", lambda data: data["device_id"] == "owl-10" and not data["online"])
                [listed] = (await vic_on_b.get("/api/devices")).json()["devices"]
            finally:
                await device.close()
    assert gone["activity"] == "offline"
    assert (listed["online"], listed["activity"]) == (False, "offline")


async def test_a_servers_list_of_its_devices_replaces_what_the_others_knew(school, postgres_url, tmp_path):
    """B missed A's news that a device went offline (B had lost PostgreSQL a moment): B's hello puts it right."""
    async with school(store_url=postgres_url, data_dir=tmp_path / "a", create_accounts=False) as a, \
            school(store_url=postgres_url, data_dir=tmp_path / "b", create_accounts=False) as b:
        await a.hoot.store.add_account("zoe", await hash_password(PASSWORD), "teacher")
        async with a.login("zoe") as zoe_on_a, b.login("zoe") as zoe_on_b, LiveNews(zoe_on_b) as live_on_b:
            device = await pair(a, zoe_on_a, await a.new_class(zoe_on_a, "8H"), "owl-14")
            try:
                await live_on_b.next("device", lambda data: data["device_id"] == "owl-14" and data["online"])
                b.hoot.elsewhere.online["owl-ghost"] = {"online": True, "activity": "idle", "paused": False}
                b.hoot.elsewhere._held_by["owl-ghost"] = a.hoot.bus.server_id
                heard_on_b = messages_heard(b, everything=True)
                b.hoot.bus.send("hello", {})
                while "owl-ghost" in b.hoot.elsewhere.online:  # until A's list has come
                    await asyncio.wait_for(heard_on_b.get(), 10)
                [listed] = (await zoe_on_b.get("/api/devices")).json()["devices"]
            finally:
                await device.close()
    assert (listed["device_id"], listed["online"]) == ("owl-14", True)


async def test_a_well_formed_message_from_a_role_without_the_key_changes_nothing(school, postgres_url, tmp_path):
    """Anyone who may connect to the database can NOTIFY on Hootkit's channel; a server takes only signed news."""
    import asyncpg

    async with school(store_url=postgres_url, data_dir=tmp_path / "a", create_accounts=False) as a, \
            school(store_url=postgres_url, data_dir=tmp_path / "b", create_accounts=False) as b:
        await a.hoot.store.add_account("wes", await hash_password(PASSWORD), "teacher")
        async with a.login("wes") as wes_on_a, b.login("wes") as wes_on_b:
            device = await pair(a, wes_on_a, await a.new_class(wes_on_a, "1F"), "owl-11")
            try:
                forged = {"from": "x" * 32, "kind": "control", "data": {"device_id": "owl-11", "command": "stop"},
                          "at": time.time(), "n": 0}
                intruder = await asyncpg.connect(_asyncpg_dsn(a.hoot.store.engine.url))
                try:
                    await intruder.execute("SELECT pg_notify($1, $2)", CHANNEL, json.dumps(forged))
                    await intruder.execute("SELECT pg_notify($1, $2)", CHANNEL, "0" * 64 + "." + json.dumps(forged))
                finally:
                    await intruder.close()
                assert (await wes_on_b.post("/api/devices/owl-11/control", json={"command": "pause"})).status_code == 200
                first = await device.notice()  # NOTIFYs arrive in the order they were sent: the forged ones first
            finally:
                await device.close()
    assert first.command == "pause"


async def test_no_two_servers_show_the_same_pairing_code(school, postgres_url, tmp_path, monkeypatch):
    """The second server's first choice is the code the first one shows: it takes another, and a teacher typing
    the first code on the second server pairs the device that shows it."""
    choices = iter([111111, 111111, 222222])
    monkeypatch.setattr("hootkit.gateway.pairing.secrets.randbelow", lambda _n: next(choices))
    async with school(store_url=postgres_url, data_dir=tmp_path / "a", create_accounts=False) as a, \
            school(store_url=postgres_url, data_dir=tmp_path / "b", create_accounts=False) as b:
        await a.hoot.store.add_account("xia", await hash_password(PASSWORD), "teacher")
        on_a, on_b = DeviceClient(a.url, device_id="owl-12"), DeviceClient(b.url, device_id="owl-13")
        await on_a.connect()
        await on_b.connect()
        try:
            codes = [(await on_a.notice()).code, (await on_b.notice()).code]
            async with b.login("xia") as xia_on_b:
                class_id = await b.new_class(xia_on_b, "7G")
                paired = await xia_on_b.post("/api/pair", json={"code": "111111", "class_id": class_id, "name": "A's"})
            assert (await on_a.notice()).state == "paired"
        finally:
            await on_a.close()
            await on_b.close()
    assert codes == ["111111", "222222"]
    assert paired.json()["device_id"] == "owl-12"
