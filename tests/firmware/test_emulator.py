"""The real firmware on the MicroPython unix port (1 MB heap) against a real server with fake engines."""

import asyncio
import json

import numpy as np
import pytest
from websockets.asyncio.server import serve as serve_websocket
from conftest import QUIZ_LESSON, build_host_app, fake_engines, fast_settings, publish_firmware, silence, tone

from hootkit.app import create_app
from hootkit.emulator.device import DeviceRefused, EmulatedDevice
from hootkit.emulator.session import Session, Step
from hootkit.engines.fakes import FakeLlm, FakeStt
from hootkit.serving import serve_in_loop
from hootproto import Audio, Hello, Lesson, Listen, ServerConnection, System, encode

QUESTION = np.concatenate([silence(0.3), tone(0.8), silence(0.2)])
LONG_REPLY = ["Spiders ", "have eight legs. "] + ["They walk, climb and spin silk all day long. "] * 12


@pytest.fixture(scope="module")
def host_build(tmp_path_factory):
    return build_host_app(tmp_path_factory.mktemp("firmware"))


def serving(engines=None, port=0, **settings):
    return serve_in_loop(create_app(fast_settings(**settings), engines or fake_engines()), port=port)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


async def test_auto_turn_is_heard_answered_and_played(host_build, tmp_path):
    async with serving() as url, Session(url, build=host_build, workdir=tmp_path) as session:
        turn = await session.ask(QUESTION)
        states = [e["state"] for e in session.device.events if e["ev"] == "state"]
    assert turn.transcript == "how many legs does a spider have"
    assert turn.sentences == ["A spider has eight legs.", "Can you count them?"]
    assert turn.vtv_ms is not None and len(session.reply_pcm()) > 0
    assert {"server_vtv", "stt", "device_playout", "vad_lag_and_network"} <= set(turn.parts)
    assert states[:5] == ["connecting", "listening", "thinking", "speaking", "listening"]


async def test_push_to_talk_turn(host_build, tmp_path):
    async with serving() as url, Session(url, mode="manual", build=host_build, workdir=tmp_path) as session:
        await session.device.expect("state", where=lambda e: e["state"] == "idle")
        await session.step(Step("press"))
        await session.device.expect("state", where=lambda e: e["state"] == "listening")
        session.begin_turn()
        await session.device.say(tone(0.8))
        await session.step(Step("release"))
        await session.wait("reply")
    turn = session.turns[-1]
    assert turn.transcript == "how many legs does a spider have" and turn.sentences
    gestures = [e["gesture"] for e in session.device.events if e["ev"] == "button"]
    assert gestures == ["hold", "release"]


async def test_tap_interrupts_the_reply_and_the_next_turn_works(host_build, tmp_path):
    engines = fake_engines(llm=FakeLlm(LONG_REPLY))
    long_replies = {"max_sentences": 10, "max_words": 200}  # longer than the tap takes to arrive
    async with serving(engines, llm=long_replies) as url, Session(url, build=host_build, workdir=tmp_path) as session:
        device = session.device
        since = device.mark()
        await device.say(QUESTION)
        await device.expect("play_start", since)
        await session.step(Step("tap"))
        abort = await device.expect("abort", since)
        played_at_abort = device.speaker.stat().st_size
        await device.expect("state", abort["seq"], where=lambda e: e["state"] == "listening")
        await device.expect("metrics", abort["seq"])
        interrupted = session.report(since)
        engines.llm.pieces = ["A spider has eight legs. "]
        after = await session.ask(QUESTION)
    assert interrupted.interrupted and abort["reason"] == "button"
    assert len(interrupted.sentences) < long_replies["max_sentences"]  # the rest of the reply was never spoken
    assert after.transcript == "how many legs does a spider have" and after.sentences == ["A spider has eight legs."]
    assert played_at_abort > 0


async def test_device_reconnects_after_a_server_restart(host_build, tmp_path):
    async with serving() as url:
        port = port_of(url)
        session = Session(url, build=host_build, workdir=tmp_path)
        await session.__aenter__()
    try:
        down = await session.device.expect("link_down")
        async with serving(port=port):
            await session.device.expect("connected", down["seq"])
            turn = await session.ask(QUESTION)
    finally:
        await session.__aexit__(None, None, None)
    assert turn.transcript == "how many legs does a spider have"


async def test_pulled_network_rejoins_wifi_and_reconnects(host_build, tmp_path):
    async with serving() as url, Session(url, build=host_build, workdir=tmp_path) as session:
        device = session.device
        since = device.mark()
        await session.step(Step("network", "down"))
        await device.expect("wifi_join", since)
        await session.step(Step("network", "up"))
        await device.expect("connected", since)
        turn = await session.ask(QUESTION)
    assert turn.transcript == "how many legs does a spider have"


async def test_manual_device_says_nothing_heard_and_goes_idle(host_build, tmp_path):
    async with serving() as url, Session(url, mode="manual", build=host_build, workdir=tmp_path) as session:
        device = session.device
        await device.expect("state", where=lambda e: e["state"] == "idle")
        since = device.mark()
        await session.step(Step("press"))
        await device.expect("state", since, where=lambda e: e["state"] == "listening")
        await session.step(Step("release"))
        alert = await device.expect("alert", since)
        await device.expect("state", alert["seq"], where=lambda e: e["state"] == "idle")
    assert alert["code"] == "no_speech"


async def test_device_without_the_token_is_refused_and_shows_an_error(host_build, tmp_path):
    async with serving(device_tokens=["class-4b-secret"]) as url:
        session = Session(url, build=host_build, workdir=tmp_path)
        try:
            with pytest.raises(DeviceRefused, match="4001"):
                await session.__aenter__()
            await session.device.expect("state", where=lambda e: e["state"] == "error")
        finally:
            await session.__aexit__(None, None, None)


async def test_device_with_the_token_is_let_in(host_build, tmp_path):
    async with serving(device_tokens=["class-4b-secret"]) as url:
        async with Session(url, build=host_build, workdir=tmp_path, token="class-4b-secret") as session:
            turn = await session.ask(QUESTION)
    assert turn.transcript


async def test_first_boot_asks_for_setup_on_the_serial_console(host_build, tmp_path):
    async with serving() as url:
        flash = tmp_path / "flash"
        EmulatedDevice.install(host_build, flash, None)
        device = EmulatedDevice(flash)
        await device.start()
        try:
            await device.type(f"school-wifi\nsecret\nnot a url\n{url}\n\nmanual\n")
            provisioned = await device.expect("provisioned")
            await device.expect("connected")
            await device.expect("state", where=lambda e: e["state"] == "idle")
        finally:
            await device.stop()
    saved = json.loads((flash / "config.json").read_text())
    assert saved == {"mode": "manual", "wifi": {"ssid": "school-wifi", "password": "secret"}, "server": url}
    assert provisioned["server"] == url
    assert "That is not a ws:// or wss:// address" in "\n".join(device.output)


async def test_heap_size_is_enforced(host_build, tmp_path):
    """The 1 MB runs above prove the firmware fits; this proves the limit is real."""
    EmulatedDevice.install(host_build, tmp_path / "flash", {"server": "ws://127.0.0.1:9/v1/device", "wifi": {"ssid": "x"}})
    device = EmulatedDevice(tmp_path / "flash", heap="48K")
    await device.start()
    try:
        crash = await device.expect("crash")
    finally:
        await device.stop()
    assert "MemoryError" in crash["error"]


async def test_update_is_verified_swapped_in_and_kept(host_build, tmp_path):
    published = publish_firmware(host_build, tmp_path / "published", {"hoot/lesson_notes.txt": b"new in this version\n"})
    async with serving(firmware_dir=tmp_path / "published") as url:
        async with Session(url, build=host_build, workdir=tmp_path / "device") as session:
            await session.device.expect("update_confirmed")
            turn = await session.ask(QUESTION)
    flash = tmp_path / "device" / "flash"
    assert session.device.boots == 2
    assert (flash / "hoot" / "lesson_notes.txt").read_bytes() == b"new in this version\n"
    assert json.loads((flash / "manifest.json").read_text())["version"] == published["version"]
    assert not list(flash.rglob("*.old")) and not list(flash.rglob("*.new")) and not (flash / "update.json").exists()
    assert turn.transcript


async def test_update_with_a_wrong_hash_is_refused_and_the_old_app_runs(host_build, tmp_path):
    publish_firmware(host_build, tmp_path / "published", {"hoot/lesson_notes.txt": b"tampered\n"}, lie_about="hoot/lesson_notes.txt")
    async with serving(firmware_dir=tmp_path / "published") as url:
        async with Session(url, build=host_build, workdir=tmp_path / "device") as session:
            refused = await session.device.expect("update_refused")
            turn = await session.ask(QUESTION)
    flash = tmp_path / "device" / "flash"
    assert "sha256" in refused["error"] and session.device.boots == 1
    assert not (flash / "hoot" / "lesson_notes.txt").exists() and not list(flash.rglob("*.new"))
    assert turn.transcript


def forge(folder, how: str) -> None:
    """Make the published firmware in `folder` untrustworthy the way an attacker on the network could."""
    if how == "unsigned":
        (folder / "manifest.sig").unlink()
    elif how == "edited after signing":
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["files"][0]["sha256"] = "1" * 64
        (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("how, reason", [
    ("signed by another key", "not signed by this device's update key"),
    ("edited after signing", "not signed by this device's update key"),
    ("unsigned", "manifest.sig answered 404"),
    ("older than the installed app", "older than the installed app"),
    ("for another board", "the manifest is for board other-board"),
])
async def test_an_untrusted_update_is_refused_and_the_old_app_runs(host_build, tmp_path, how, reason):
    stranger_key = tmp_path / "stranger.key" if how == "signed by another key" else None
    older = {"built": 1} if how == "older than the installed app" else {"board": "other-board"} if how == "for another board" else {}
    publish_firmware(host_build, tmp_path / "published", {"hoot/lesson_notes.txt": b"from a stranger\n"},
                     key_file=stranger_key, **older)
    forge(tmp_path / "published", how)
    async with serving(firmware_dir=tmp_path / "published") as url:
        async with Session(url, build=host_build, workdir=tmp_path / "device") as session:
            refused = await session.device.expect("update_refused")
            turn = await session.ask(QUESTION)
    flash = tmp_path / "device" / "flash"
    assert reason in refused["error"] and session.device.boots == 1
    assert not (flash / "hoot" / "lesson_notes.txt").exists() and not list(flash.rglob("*.new"))
    assert turn.transcript


class ScriptedServer:
    """A bare protocol server the test drives frame by frame, for what the real server cannot send yet
    (teacher commands, lesson events) or never should (malformed frames)."""

    def __init__(self):
        self.to_device: asyncio.Queue = asyncio.Queue()
        self.from_device: asyncio.Queue = asyncio.Queue()

    async def handle(self, socket) -> None:
        conn = ServerConnection()
        conn.receive(await socket.recv())
        await socket.send(conn.send(Hello(session_id="scripted", audio_params=conn.uplink)))

        async def send_queued() -> None:
            while True:
                await socket.send(await self.to_device.get())

        sender = asyncio.create_task(send_queued())
        try:
            async for frame in socket:
                for event in conn.receive(frame):
                    if not isinstance(event, Audio):
                        await self.from_device.put(event)
        finally:
            sender.cancel()


async def test_teacher_commands_lesson_events_and_bad_frames(host_build, tmp_path):
    scripted = ScriptedServer()
    async with serve_websocket(scripted.handle, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/device"
        async with Session(url, build=host_build, workdir=tmp_path) as session:
            device = session.device
            assert (await asyncio.wait_for(scripted.from_device.get(), 30)) == Listen(state="start", mode="auto")
            await device.expect("state", where=lambda e: e["state"] == "listening")
            steps = [
                (encode(System(command="pause")), "state", "paused"),
                ("{not json", "protocol_error", "bad_json"),
                (encode(Lesson(state="start", title="Spiders", step=1, steps=3)), "lesson", "Spiders"),
                (encode(System(command="resume")), "state", "listening"),
                (encode(System(command="stop")), "state", "paused"),
                (encode(System(command="resume")), "state", "listening"),
            ]
            for frame, kind, value in steps:
                since = device.mark()
                await scripted.to_device.put(frame)
                await device.expect(kind, since, where=lambda e: value in (e.get("state"), e.get("code"), e.get("title")))
                assert [e["ev"] for e in device.events[since:]].count("link_down") == 0
            assert (await asyncio.wait_for(scripted.from_device.get(), 30)) == Listen(state="start", mode="auto")


async def test_a_lesson_the_teacher_starts_is_spoken_and_followed_by_the_firmware(host_build, tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (lessons / "legs.yaml").write_text(QUIZ_LESSON)
    engines = fake_engines(stt=FakeStt("eight"))
    app = create_app(fast_settings(lessons_dir=lessons, watch_lessons=False), engines)
    async with serve_in_loop(app) as url, Session(url, build=host_build, workdir=tmp_path / "device") as session:
        device = session.device
        await device.expect("state", where=lambda e: e["state"] == "listening")
        since = device.mark()
        hoot = app.state.hoot
        (server_session,) = hoot.gateway.sessions.values()
        await server_session.start_lesson(hoot.classroom.assign("legs", [server_session.device_id])[server_session.device_id])
        await device.expect("reply_done", since)
        said = [e["text"] for e in device.events[since:] if e["ev"] == "say"]
        progress = [(e["state"], e["step"], e.get("step_id")) for e in device.events[since:] if e["ev"] == "lesson"]
        answered = await session.ask(QUESTION)
    assert " ".join(said) == "Let's start a lesson: Legs. How many legs does a spider have?"
    assert progress == [("start", 0, None), ("step", 1, "spider-legs")]
    assert " ".join(answered.sentences) == "Yes, eight legs! Why do you think spiders spin webs?"
