"""A stock XiaoZhi client (`xiaozhi-sdk` from PyPI, unchanged) against Hootkit: OTA, Opus speech, pairing, pause."""

import asyncio
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import QUIZ_LESSON, fast_settings, heard_most, silence, tone
from xiaozhi_client import StockXiaoZhi

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
from school import lessons_dir, school  # noqa: E402,F401 (fixtures: a server with accounts)

from hootkit.accounts.passwords import token_hash
from hootkit.app import create_app
from hootkit.client.speech import speak
from hootkit.serving import serve_in_loop

pytestmark = pytest.mark.timeout(180)

SPIDER = "How many legs does a spider have?"
QUESTION = np.concatenate([silence(0.3), tone(0.9) * 32767, silence(0.1)])


def http_base(url: str) -> str:
    return url.replace("ws://", "http://").split("/v1/")[0]


def hear_back(engines, audio: np.ndarray) -> str:
    """What Whisper hears in the reply audio, with long quiet stretches cut to 0.2 s: a busy machine's late clause
    leaves a gap in the stream, and Whisper may stop listening at a long silence."""
    frames = audio[: len(audio) // 320 * 320].reshape(-1, 320)  # 20 ms at 16 kHz
    quiet = np.abs(frames.astype(np.int32)).max(axis=1) < 100
    run = np.zeros(len(frames), int)
    for i in range(len(frames)):
        run[i] = run[i - 1] + 1 if quiet[i] and i else int(quiet[i])
    kept = frames[run <= 10].reshape(-1)
    return engines.stt.transcribe_now(kept.astype(np.float32) / 32768).text


@pytest.mark.models
@pytest.mark.parametrize("mode", ["auto", "realtime"])
async def test_a_spoken_question_gets_a_spoken_answer_through_ota_and_opus(real_engines, mode):
    async with serve_in_loop(create_app(fast_settings(), real_engines)) as url:
        device = StockXiaoZhi(http_base(url), mode=mode)
        assert await device.client.init_connection("aa:bb:cc:00:00:01")
        try:
            assert device.client.url.endswith("/xiaozhi/v1/")  # learnt from the OTA answer
            await device.say(speak(SPIDER))
            heard = await device.next("stt")
            said, reply = await device.reply()
        finally:
            await device.client.close()
    assert "spider" in heard["text"].lower()
    assert len(reply) > 16000  # over a second of speech, decoded from Opus by the client
    # the audio says what the server said it would (what the LLM chose to answer is bench/answers.py's business)
    spoken = hear_back(real_engines, reply)
    assert heard_most(" ".join(said), spoken), (said, spoken)


@pytest.mark.models
async def test_a_typed_question_gets_a_spoken_answer(real_engines):
    async with serve_in_loop(create_app(fast_settings(), real_engines)) as url:
        device = StockXiaoZhi(http_base(url))
        assert await device.client.init_connection("aa:bb:cc:00:00:07")
        try:
            assert await device.client.send_text(SPIDER)  # the SDK's text input: `listen detect` with the words
            heard = await device.next("stt")
            said, reply = await device.reply()
        finally:
            await device.client.close()
    assert heard["text"] == SPIDER
    assert "eight" in " ".join(said).lower() or "8" in " ".join(said)
    assert heard_most(" ".join(said), hear_back(real_engines, reply)), said


async def test_an_unpaired_client_is_paired_through_its_activation_code(school):
    async with school() as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        device = StockXiaoZhi(http_base(s.url))
        assert await device.client.init_connection("aa:bb:cc:00:00:02")
        try:
            token = device.client.websocket_token
            assert token and device.client.ota_task is not None  # it was told a code, and asks /activate
            heard = await device.next("alert")  # what its screen shows over the websocket meanwhile
            code = heard["message"].rsplit(" ", 1)[1]
            paired = await tom.post("/api/pair", json={"code": code, "class_id": class_id, "name": "Table 2"})
            assert paired.status_code == 201, paired.text
            await device.client.ota_task  # activation seen: it reconnects with its token and says "hi"
            assert device.client.hello_received.is_set()
            answer = await device.next("tts", "stop")
        finally:
            await device.client.close()
        stored = await s.hoot.store.device_by_token(token_hash(token))
    assert stored is not None and (stored.id, stored.name) == ("aa:bb:cc:00:00:02", "Table 2")
    assert answer["type"] == "tts"


async def test_a_teachers_pause_silences_it_until_resumed(school):
    async with school(pairing="remote") as s, s.login("ada") as ada:
        device = StockXiaoZhi(http_base(s.url))
        assert await device.client.init_connection("aa:bb:cc:00:00:03")
        try:
            paused = await ada.post("/api/devices/aa:bb:cc:00:00:03/control", json={"command": "pause"})
            assert paused.status_code == 200, paused.text
            alert = await device.next("alert")
            assert alert["status"] == "pause" and "paused" in alert["message"] and alert["emotion"]
            notice = await device.next("tts", "sentence_start")  # it says why it stops talking
            await device.next("tts", "stop")
            device.take_reply_audio()
            await device.say(QUESTION)
            await device.next("alert")  # its next "listen start" is answered: still paused
            assert not [event for event in device.events._queue if event["type"] in ("stt", "tts")]  # not heard
            resumed = await ada.post("/api/devices/aa:bb:cc:00:00:03/control", json={"command": "resume"})
            assert resumed.status_code == 200, resumed.text
            await device.next("alert")
            await device.say(QUESTION)
            await device.next("tts", "stop")
            assert len(device.take_reply_audio()) > 0
        finally:
            await device.client.close()
    assert "break" in notice["text"]


async def test_the_ota_answer_never_hands_out_a_paired_devices_token(school):
    async with school() as s, s.anonymous() as anyone:
        await s.hoot.store.pair_device("aa:bb:cc:00:00:04", "Table 4", None, token_hash("its-own-token"))
        asked = await anyone.post("/xiaozhi/ota/", headers={"Device-Id": "AA:BB:CC:00:00:04"},
                                  json={"application": {"version": "2.4.2"}})
        assert asked.status_code == 200, asked.text
        answer = asked.json()
        assert "token" not in answer["websocket"] and "activation" not in answer  # it keeps the token it stored
        assert answer["websocket"]["url"].endswith("/xiaozhi/v1/") and answer["firmware"]["version"] == "2.4.2"
        assert "mqtt" not in answer  # a device told about MQTT prefers it
        assert (await anyone.post("/xiaozhi/ota/activate", headers={"Device-Id": "aa:bb:cc:00:00:04"})).status_code == 200

        fresh = (await anyone.post("/xiaozhi/ota/", headers={"Device-Id": "aa:bb:cc:00:00:05"}, content=b"{}")).json()
        assert fresh["websocket"]["token"] and len(fresh["activation"]["code"]) == 6
        assert (await anyone.post("/xiaozhi/ota/activate", headers={"Device-Id": "aa:bb:cc:00:00:05"})).status_code == 202
        again = (await anyone.post("/xiaozhi/ota/", headers={"Device-Id": "aa:bb:cc:00:00:05"}, content=b"{}")).json()
        assert again["activation"]["code"] != fresh["activation"]["code"] or again["websocket"]["token"] != fresh["websocket"]["token"]
        assert s.hoot.pairing.claim(fresh["activation"]["code"]) is None  # the older code is gone

        missing = await anyone.post("/xiaozhi/ota/", content=b"{}")
        assert missing.status_code == 400 and "Device-Id" in missing.json()["detail"]
        broken = await anyone.post("/xiaozhi/ota/", headers={"Device-Id": "aa:bb:cc:00:00:06"}, content=b"{not json")
        assert broken.status_code == 400 and "not JSON" in broken.json()["detail"]
        assert (await anyone.post("/xiaozhi/ota/activate", headers={"Device-Id": "aa:bb:cc:00:00:07"})).status_code == 404


async def test_its_mcp_tools_show_on_the_dashboard_and_a_teacher_can_call_one(school):
    async with school(pairing="remote") as s, s.login("ada") as ada, s.login("pat") as pat:
        device = StockXiaoZhi(http_base(s.url))
        volumes = []

        def set_volume(arguments: dict):
            volumes.append(arguments["volume"])
            return {"volume": arguments["volume"]}, False

        await device.client.set_mcp_tool([{
            "name": "self.audio_speaker.set_volume", "description": "Set the speaker volume (0-100)",
            "inputSchema": {"type": "object", "properties": {"volume": {"type": "integer"}}, "required": ["volume"]},
            "tool_func": set_volume},
            {"name": "self.camera.take_photo", "description": "Take a photo", "inputSchema": {"type": "object", "properties": {}},
             "tool_func": lambda arguments: ({"photo": "..."}, False)},
            {"name": "x" * 500, "description": "a name too long to show", "inputSchema": {}, "tool_func": set_volume}])
        assert await device.client.init_connection("aa:bb:cc:00:00:08")
        try:
            await s.hoot.gateway.tools_of("aa:bb:cc:00:00:08").discovery  # initialize, then tools/list, after its hello
            listed = (await ada.get("/api/devices/aa:bb:cc:00:00:08/tools")).json()["tools"]
            assert [(tool["name"], tool["allowed"]) for tool in listed] == [
                ("self.audio_speaker.set_volume", True), ("self.camera.take_photo", False)]  # the long name is dropped
            assert listed[0]["inputSchema"]["required"] == ["volume"]
            card = next(d for d in (await ada.get("/api/devices")).json()["devices"] if d["device_id"] == "aa:bb:cc:00:00:08")
            assert card["tools"] == ["self.audio_speaker.set_volume", "self.camera.take_photo"]
            camera = await ada.post("/api/devices/aa:bb:cc:00:00:08/tools/self.camera.take_photo", json={})
            assert camera.status_code == 403 and "device_tools" in camera.json()["detail"]

            called = await ada.post("/api/devices/aa:bb:cc:00:00:08/tools/self.audio_speaker.set_volume",
                                    json={"arguments": {"volume": 30}})
            assert called.status_code == 200, called.text
            assert called.json()["result"]["content"][0]["text"] == '{"volume": 30}' and volumes == [30]
            missing = await ada.post("/api/devices/aa:bb:cc:00:00:08/tools/self.reboot", json={})
            assert missing.status_code == 404 and "no tool" in missing.json()["detail"]
            assert (await pat.post("/api/devices/aa:bb:cc:00:00:08/tools/self.audio_speaker.set_volume",
                                   json={"arguments": {"volume": 100}})).status_code == 403
        finally:
            await device.client.close()
        audit = await s.audit("device tool")
    assert [(event.actor, event.detail) for event in audit] == [("ada", 'self.audio_speaker.set_volume {"volume": 30}')]


async def test_a_staged_firmware_is_offered_in_the_ota_answer(school):
    staged = {"xiaozhi_firmware_version": "2.5.0", "xiaozhi_firmware_url": "http://school.lan/xiaozhi-2.5.0.bin"}
    async with school(pairing="remote", **staged) as s, s.anonymous() as anyone:
        answer = (await anyone.post("/xiaozhi/ota/", headers={"Device-Id": "aa:bb:cc:00:00:09"},
                                    json={"application": {"version": "2.4.2"}})).json()
    assert answer["firmware"] == {"version": "2.5.0", "url": "http://school.lan/xiaozhi-2.5.0.bin"}


async def test_a_lessons_device_settings_are_set_on_the_board_as_it_starts(school, lessons_dir):
    (lessons_dir / "quiet.yaml").write_text(QUIZ_LESSON.replace("id: legs", "id: quiet")
                                            + "device:\n  volume: 40\n  theme: dark\n")
    async with school(pairing="remote") as s, s.login("ada") as ada:
        device = StockXiaoZhi(http_base(s.url))
        volumes, started = [], asyncio.Event()

        def set_volume(arguments: dict):
            volumes.append(arguments["volume"])
            started.set()
            return {"volume": arguments["volume"]}, False

        await device.client.set_mcp_tool([{  # a board with a speaker and no screen: the theme is left alone
            "name": "self.audio_speaker.set_volume", "description": "Set the speaker volume (0-100)",
            "inputSchema": {"type": "object", "properties": {"volume": {"type": "integer"}}, "required": ["volume"]},
            "tool_func": set_volume}])
        assert await device.client.init_connection("aa:bb:cc:00:00:0a")
        try:
            assigned = await ada.post("/api/lessons/quiet/assign", json={"devices": ["aa:bb:cc:00:00:0a"]})
            assert assigned.status_code == 200, assigned.text
            await asyncio.wait_for(started.wait(), 20)
            opening = await device.next("tts", "sentence_start")
        finally:
            await device.client.close()
    assert volumes == [40]
    assert opening["text"]


async def test_a_teacher_sets_the_volume_for_a_whole_class(school):
    async with school(pairing="all") as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        volumes = []

        def set_volume(arguments: dict):
            volumes.append(arguments["volume"])
            return {"volume": arguments["volume"]}, False

        board = StockXiaoZhi(http_base(s.url))
        await board.client.set_mcp_tool([{
            "name": "self.audio_speaker.set_volume", "description": "Set the speaker volume (0-100)",
            "inputSchema": {"type": "object", "properties": {"volume": {"type": "integer"}}, "required": ["volume"]},
            "tool_func": set_volume}])
        assert await board.client.init_connection("aa:bb:cc:00:00:0b")
        try:
            code = (await board.next("alert"))["message"].rsplit(" ", 1)[1]
            paired = await tom.post("/api/pair", json={"code": code, "class_id": class_id, "name": "Table 1"})
            assert paired.status_code == 201, paired.text
            await board.client.ota_task  # it reconnects with its token, into the class
            await board.next("tts", "stop")
            await s.hoot.gateway.tools_of("aa:bb:cc:00:00:0b").discovery
            answer = await tom.post(f"/api/classes/{class_id}/tools/self.audio_speaker.set_volume",
                                    json={"arguments": {"volume": 35}})
            refused = await tom.post(f"/api/classes/{class_id}/tools/self.camera.take_photo", json={})
        finally:
            await board.client.close()
        audit = await s.audit("device tool")
    assert answer.status_code == 200, answer.text
    assert [(item["device_id"], item["called"]) for item in answer.json()["devices"]] == [("aa:bb:cc:00:00:0b", True)]
    assert volumes == [35]
    assert refused.status_code == 403
    assert [(event.actor, event.target) for event in audit] == [("tom", f"class {class_id}")]
