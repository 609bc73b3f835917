"""Pairing: an unpaired device says its code; a teacher types it into one of their classes; the device keeps a token."""

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from school import QUESTION, LiveNews, lessons_dir, school  # noqa: F401 (fixtures)
from test_control import pair

from hootkit.accounts.passwords import token_hash
from hootkit.client.device import DeviceClient, Refused
from hootkit.engines.fakes import FakeStt
from hootkit.store import db
import hootproto
from hootproto import Hello, Listen

AUDIO = {"format": "pcm16", "sample_rate": 16000, "channels": 1, "frame_duration": 40}
PAIRED = "device {} is paired: connect with its token, or ask a teacher to forget it"


async def test_a_teacher_pairs_a_device_by_its_spoken_code_and_it_talks_from_then_on(school):
    async with school(stt=FakeStt("hello owl")) as s, s.login("tom") as tom, s.login("tina") as tina:
        class_id = await s.new_class(tom, "4B")
        async with DeviceClient(s.url, device_id="owl-7") as device:
            code = await device.notice()
            assert code.type == "pair"
            assert code.state == "code" and len(code.code) == 6 and code.code.isdigit()
            greeting = await device.told()
            assert "A teacher needs to pair me first" in greeting.reply and ". ".join(code.code) in greeting.reply
            assert greeting.audio

            again = await device.ask(QUESTION)  # anything it hears gets the code again; nothing is recorded
            assert ". ".join(code.code) in again.reply

            wrong = "000000" if code.code != "000000" else "111111"
            missed = await tom.post("/api/pair", json={"code": wrong, "class_id": class_id, "name": "Table 3"})
            assert missed.status_code == 404 and "no device is waiting with that code" in missed.json()["detail"]
            other = await tina.post("/api/pair", json={"code": code.code, "class_id": class_id})
            assert other.status_code == 404  # tina cannot pair into tom's class, and the code stays valid

            async with LiveNews(tom) as live:
                paired = await tom.post("/api/pair", json={"code": code.code, "class_id": class_id, "name": "Table 3"})
                assert paired.status_code == 201, paired.text
                assert paired.json() == {"device_id": "owl-7", "name": "Table 3", "class_id": class_id}
                got = await device.notice()
                assert got.state == "paired" and got.name == "Table 3" and device.token
                assert "Thank you" in (await device.told()).reply
                answer = await device.ask(QUESTION)
                assert answer.transcript == "hello owl" and answer.reply
                turn = await live.next("turn", lambda data: data["transcript"])
            assert turn["transcript"] == "hello owl"
            token = device.token

        async with DeviceClient(s.url, token=token, device_id="pretending") as device:
            answer = await device.ask(QUESTION)
            assert answer.transcript == "hello owl"  # admitted at once, as the paired device
        listed = (await tom.get("/api/devices")).json()["devices"]
        assert [(d["device_id"], d["name"], d["class_name"]) for d in listed] == [("owl-7", "Table 3", "4B")]
        assert (await tina.get("/api/devices")).json()["devices"] == []
        assert (await tina.get("/api/devices/owl-7/transcript")).status_code == 404
        turns = (await tom.get("/api/devices/owl-7/transcript")).json()["turns"]
        audit = await s.audit()
    assert [turn["transcript"] for turn in turns] == ["", "hello owl", "hello owl"]  # not the unpaired turns
    assert turns[0]["reply"] == "Thank you! Now I'm ready. You can talk to me."
    refusals = [(event.actor, event.detail[:3]) for event in audit if event.action == "refused"]
    assert ("tom", "404") in refusals and ("tina", "404") in refusals
    assert any(event.action == "pair" and event.target == "owl-7" for event in audit)


async def test_too_many_wrong_codes_are_refused(school):
    async with school() as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        for _ in range(10):
            assert (await tom.post("/api/pair", json={"code": "123456", "class_id": class_id})).status_code == 404
        assert (await tom.post("/api/pair", json={"code": "123456", "class_id": class_id})).status_code == 429
        malformed = await tom.post("/api/pair", json={"code": "12ab", "class_id": class_id})
        assert malformed.status_code == 422
        for class_id in (2**70, True, "1", 0):  # a 2**70 class once reached the store and gave 500
            assert (await tom.post("/api/pair", json={"code": "123456", "class_id": class_id})).status_code == 422


async def test_a_right_code_does_not_wipe_out_the_wrong_guesses_before_it(school):
    async with school() as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        for _ in range(9):
            assert (await tom.post("/api/pair", json={"code": "123456", "class_id": class_id})).status_code == 404
        device = await pair(s, tom, class_id, "owl-9")  # the tenth try, a right one: only it is taken back
        await device.close()
        tenth_wrong = await tom.post("/api/pair", json={"code": "123456", "class_id": class_id})
        eleventh = await tom.post("/api/pair", json={"code": "123456", "class_id": class_id})
    assert (tenth_wrong.status_code, eleventh.status_code) == (404, 429)


async def test_a_wrong_token_is_refused_when_tokens_are_configured(school):
    async with school(device_tokens=["class-secret"]) as s:
        with pytest.raises(Refused, match="token"):
            async with DeviceClient(s.url, token="stolen", device_id="owl-1"):
                pass


async def test_a_paired_id_without_its_token_is_refused_and_takes_nothing_from_the_device(school):
    async with school(stt=FakeStt("hello owl")) as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        device = await pair(s, tom, class_id, "owl-7")
        try:
            await device.ask(QUESTION)
            used_s, sessions = s.hoot.usage.used_s("owl-7"), list(s.hoot.gateway.sessions)
            async with LiveNews(tom) as live:
                for token in (None, "not-its-token", device.token + "x"):
                    with pytest.raises(Refused) as refused:
                        async with DeviceClient(s.url, token=token, device_id="owl-7"):
                            pass
                    assert refused.value.code == 4001 and refused.value.reason == PAIRED.format("owl-7")
                assert list(s.hoot.gateway.sessions) == sessions  # no session: no pairing code, nothing charged
                assert s.hoot.usage.used_s("owl-7") == used_s
                listed = (await tom.get("/api/devices")).json()["devices"]
                assert [(d["device_id"], d["online"], d["paired"]) for d in listed] == [("owl-7", True, True)]
                assert (await device.ask(QUESTION)).transcript == "hello owl"  # the real one talks on
                news = []
                while not (news and news[-1][0] == "turn" and news[-1][1]["asked"]):
                    news.append(await asyncio.wait_for(live.queue.get(), 30))
            assert not [data for kind, data in news if kind == "device" and not data["online"]]  # never shown offline
        finally:
            await device.close()


async def test_a_device_is_paired_again_only_after_a_teacher_forgets_it(school):
    async with school() as s, s.login("tom") as tom, s.login("tina") as tina, s.login("pat") as pat:
        class_id = await s.new_class(tom, "4B")
        device = await pair(s, tom, class_id, "owl-7")
        await device.close()
        old_token = device.token
        assert (await tina.delete("/api/devices/owl-7")).status_code == 404  # not in her classes
        assert (await pat.delete("/api/devices/owl-7")).status_code == 403  # parents change nothing
        assert await s.hoot.store.device("owl-7") is not None
        forgotten = await tom.delete("/api/devices/owl-7")
        assert forgotten.status_code == 200 and forgotten.json() == {"device_id": "owl-7", "forgotten": True}
        assert await s.hoot.store.device("owl-7") is None
        assert (await tom.delete("/api/devices/owl-7")).status_code == 404

        async with DeviceClient(s.url, token=old_token, device_id="owl-7") as again:  # its old token is gone too
            code = await again.notice()
            assert code.state == "code"
            await again.told()
            paired = await tom.post("/api/pair", json={"code": code.code, "class_id": class_id, "name": "Desk"})
            assert paired.status_code == 201, paired.text
            assert (await again.notice()).state == "paired" and again.token != old_token
        assert (await s.hoot.store.device_by_token(token_hash(again.token))).name == "Desk"
        audit = await s.audit("forget device")
    assert [(event.actor, event.target) for event in audit] == [("tom", "owl-7")]


async def test_a_code_for_an_id_paired_meanwhile_is_refused_and_overwrites_nothing(school):
    async with school() as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        async with DeviceClient(s.url, device_id="owl-5") as waiting:
            code = (await waiting.notice()).code
            # paired meanwhile some other way (say, by a second server on the same database)
            await s.hoot.store.pair_device("owl-5", "Table 5", class_id, token_hash("first-token"))
            clash = await tom.post("/api/pair", json={"code": code, "class_id": class_id})
        assert clash.status_code == 409
        assert clash.json()["detail"] == "device owl-5 is already paired: forget it first to pair it again"
        assert (await s.hoot.store.device_by_token(token_hash("first-token"))).name == "Table 5"  # not overwritten


async def test_this_machine_and_a_configured_token_need_a_paired_devices_own_token_too(school):
    async with school(pairing="remote") as s:
        async with DeviceClient(s.url, device_id="owl-1") as fresh:  # a fresh id: admitted at once, as before
            assert (await fresh.ask(QUESTION)).reply
        await s.hoot.store.pair_device("owl-2", "Table 2", None, token_hash("owl-2-token"))
        with pytest.raises(Refused, match=PAIRED.format("owl-2")):
            async with DeviceClient(s.url, device_id="owl-2"):
                pass
        async with DeviceClient(s.url, token="owl-2-token", device_id="owl-2") as paired:
            assert (await paired.ask(QUESTION)).reply
    async with school(device_tokens=["class-secret"], create_accounts=False) as s:
        with pytest.raises(Refused, match=PAIRED.format("owl-2")):  # the same school: owl-2 is still paired
            async with DeviceClient(s.url, token="class-secret", device_id="owl-2"):
                pass
        async with DeviceClient(s.url, token="class-secret", device_id="owl-3") as other:
            assert (await other.ask(QUESTION)).reply


async def test_forgetting_a_connected_device_ends_its_connection_at_once(school):
    async with school() as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        device = await pair(s, tom, class_id, "owl-7")
        served = s.hoot.gateway._links["owl-7"].task
        assert (await tom.delete("/api/devices/owl-7")).status_code == 200
        await asyncio.wait_for(asyncio.shield(device._reader), 10)
        assert (device.close_code, device.close_reason) == (4001, "this device was forgotten by a teacher: pair it again")
        await asyncio.wait_for(asyncio.shield(served), 10)
        assert "owl-7" not in s.hoot.gateway.sessions


async def test_a_device_gone_while_it_was_being_paired_is_not_left_paired_without_its_token(school):
    async with school() as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        device = DeviceClient(s.url, device_id="owl-8")
        await device.connect()
        code = (await device.notice()).code
        served = s.hoot.gateway._links["owl-8"].task
        pair_device = s.hoot.store.pair_device

        async def pair_as_the_device_drops(*args, **kwargs):
            await device.ws.close()
            await asyncio.wait_for(asyncio.shield(served), 10)  # the server is through with its connection
            return await pair_device(*args, **kwargs)

        s.hoot.store.pair_device = pair_as_the_device_drops
        answer = await tom.post("/api/pair", json={"code": code, "class_id": class_id})
        assert answer.status_code == 409 and "disconnected while it was being paired" in answer.json()["detail"]
        assert await s.hoot.store.device("owl-8") is None  # it can get a new code and be paired again


async def test_a_connection_admitted_unpaired_is_refused_at_hello_once_the_id_is_paired(school):
    async with school() as s:
        async with connect(s.url, additional_headers={"Device-Id": "owl-9"}) as ws:
            await ws.send(hootproto.encode(Listen(state="start", mode="auto")))
            await asyncio.wait_for(ws.recv(), 10)  # admitted (to be paired) and read: it has not said hello yet
            await s.hoot.store.pair_device("owl-9", "Table 9", None, token_hash("owl-9-token"))
            await ws.send(hootproto.encode(Hello(audio_params=AUDIO)))
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
        assert (ws.close_code, ws.close_reason) == (4001, PAIRED.format("owl-9"))
        assert "owl-9" not in s.hoot.gateway.sessions


async def test_a_request_a_proxy_on_this_machine_passes_on_is_not_trusted_as_this_machine(school):
    async with school(pairing="remote") as s:
        async with DeviceClient(s.url, device_id="owl-1") as here:  # this machine itself: admitted at once
            assert (await here.ask(QUESTION)).reply
        async with DeviceClient(s.url, device_id="owl-2", headers={"X-Forwarded-For": "203.0.113.9"}) as passed_on:
            assert (await passed_on.notice()).state == "code"


async def test_staff_see_the_devices_waiting_with_a_code_and_turn_away_one_they_do_not_know(school):
    async with school() as s, s.login("tom") as tom, s.login("pat") as pat:
        class_id = await s.new_class(tom, "4B")
        async with DeviceClient(s.url, device_id="stranger-1") as stranger, DeviceClient(s.url, device_id="owl-2") as owl:
            code = (await stranger.notice()).code
            await owl.notice()
            assert (await pat.get("/api/pairing")).status_code == 403
            waiting = (await tom.get("/api/pairing")).json()["waiting"]
            assert [(w["device_id"], w["via"]) for w in waiting] == [("stranger-1", "connection"), ("owl-2", "connection")]
            assert all(code not in str(w) for w in waiting)  # the code only proves anything if it stays on the device

            assert (await tom.delete("/api/pairing")).status_code == 422
            assert (await tom.delete("/api/pairing", params={"address": "127.0.0.1"})).status_code == 403  # admins only
            gone = await tom.delete("/api/pairing", params={"device_id": "stranger-1"})
            assert [w["device_id"] for w in gone.json()["turned_away"]] == ["stranger-1"]
            await asyncio.wait_for(asyncio.shield(stranger._reader), 10)
            assert (stranger.close_code, stranger.close_reason) == (4001, "turned away by a teacher")
            refused = await tom.post("/api/pair", json={"code": code, "class_id": class_id})
            assert refused.status_code == 404
            assert [w["device_id"] for w in (await tom.get("/api/pairing")).json()["waiting"]] == ["owl-2"]

            with pytest.raises(Refused) as again:  # it asks again at once: no new code
                await DeviceClient(s.url, device_id="stranger-1").connect()
            assert (again.value.code, again.value.reason) == (4001, "turned away by a teacher")
            async with s.anonymous() as anyone:
                ota = await anyone.post("/xiaozhi/ota/", headers={"Device-Id": "stranger-1"}, content=b"{}")
            assert ota.status_code == 403 and "turned away" in ota.json()["detail"]
            async with DeviceClient(s.url, device_id="owl-3") as other:  # turned away by id: others still get codes
                assert (await other.notice()).code
        assert [event.target for event in await s.audit("turn away")] == ["stranger-1"]


async def test_a_pairing_the_store_is_too_busy_to_write_leaves_the_device_waiting_with_its_code(school, monkeypatch):
    async with school() as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        async with DeviceClient(s.url, device_id="owl-9") as owl:
            code = (await owl.notice()).code
            monkeypatch.setattr(db, "WRITE_WAIT_S", 0.2)
            writer = s.hoot.store._one_writer
            await writer.acquire()  # earlier writes that do not end
            try:
                busy = await tom.post("/api/pair", json={"code": code, "class_id": class_id, "name": "Table 9"})
            finally:
                writer.release()
            assert busy.status_code == 503
            assert await s.hoot.store.device("owl-9") is None  # nothing half written
            paired = await tom.post("/api/pair", json={"code": code, "class_id": class_id, "name": "Table 9"})
            assert paired.status_code == 201, paired.text
            assert (await owl.notice()).state == "paired"
        assert [event.target for event in await s.audit("pair")] == ["owl-9"]
