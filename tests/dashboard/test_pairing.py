"""Pairing: an unpaired device says its code; a teacher types it into one of their classes; the device keeps a token."""

import pytest
from school import QUESTION, LiveNews, lessons_dir, school  # noqa: F401 (fixtures)

from hootkit.client.device import DeviceClient, Refused
from hootkit.engines.fakes import FakeStt


async def test_a_teacher_pairs_a_device_by_its_spoken_code_and_it_talks_from_then_on(school):
    async with school(stt=FakeStt("hello owl")) as s, s.login("tom") as tom, s.login("tina") as tina:
        class_id = await s.new_class(tom, "4B")
        async with DeviceClient(s.url, device_id="owl-7") as device:
            code = await device.notice()
            assert code.type == "pair"
            assert code.state == "code" and len(code.code) == 6 and code.code.isdigit()
            greeting = await device.told()
            assert "A teacher needs to pair me first" in greeting.reply and " ".join(code.code) in greeting.reply
            assert greeting.audio

            again = await device.ask(QUESTION)  # anything it hears gets the code again; nothing is recorded
            assert " ".join(code.code) in again.reply

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


async def test_a_wrong_token_is_refused_when_tokens_are_configured(school):
    async with school(device_tokens=["class-secret"]) as s:
        with pytest.raises(Refused, match="token"):
            async with DeviceClient(s.url, token="stolen", device_id="owl-1"):
                pass
