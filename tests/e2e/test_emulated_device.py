"""The real firmware in the emulator against the real server with the real models."""

import json

import numpy as np
import pytest
from conftest import build_host_app, fast_settings, publish_firmware, silence

from hootkit.app import create_app
from hootkit.client.speech import speak
from hootkit.emulator.session import Session, Step
from hootkit.serving import serve_in_loop

pytestmark = pytest.mark.models

SPIDER = "How many legs does a spider have?"
SKY = "Why is the sky blue?"


def question(text: str) -> np.ndarray:
    return np.concatenate([speak(text), silence(0.1)])


@pytest.fixture(scope="module")
def host_build(tmp_path_factory):
    return build_host_app(tmp_path_factory.mktemp("firmware"))


def serving(engines, port=0, **settings):
    return serve_in_loop(create_app(fast_settings(**settings), engines), port=port)


async def test_auto_mode_spider_question(real_engines, host_build, tmp_path):
    async with serving(real_engines) as url, Session(url, build=host_build, workdir=tmp_path) as session:
        turn = await session.ask(question(SPIDER))
        played = session.reply_pcm()
    assert "spider" in turn.transcript.lower()
    assert turn.sentences and len(played) > 16000  # more than a few words of 16 kHz PCM16 reached the speaker
    assert turn.vtv_ms is not None and {"stt", "llm_first_token", "tts_first_audio", "device_playout"} <= set(turn.parts)


async def test_push_to_talk_turn(real_engines, host_build, tmp_path):
    async with serving(real_engines) as url, Session(url, mode="manual", build=host_build, workdir=tmp_path) as session:
        await session.wait("idle")
        await session.step(Step("press"))
        await session.wait("listening")
        session.begin_turn()
        await session.device.say(question(SKY))
        await session.step(Step("release"))
        await session.wait("reply")
    turn = session.turns[-1]
    assert "sky" in turn.transcript.lower() and turn.sentences


async def test_button_interrupts_a_reply(real_engines, host_build, tmp_path):
    async with serving(real_engines) as url, Session(url, build=host_build, workdir=tmp_path) as session:
        device = session.device
        since = device.mark()
        await device.say(question(SPIDER))
        await device.expect("play_start", since)
        await session.step(Step("tap"))
        abort = await device.expect("abort", since)
        await device.expect("metrics", abort["seq"])
        interrupted = session.report(since)
        after = await session.ask(question(SKY))
    assert interrupted.interrupted and "spider" in interrupted.transcript.lower()
    assert after.transcript and after.sentences  # heard (tiny.en once heard "skate" for "sky" here) and answered


async def test_server_restart_in_the_middle_of_a_session(real_engines, host_build, tmp_path):
    async with serving(real_engines) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        session = Session(url, build=host_build, workdir=tmp_path)
        await session.__aenter__()
        first = await session.ask(question(SPIDER))
    try:
        down = await session.device.expect("link_down")
        async with serving(real_engines, port=port):
            await session.device.expect("connected", down["seq"])
            second = await session.ask(question(SKY))
    finally:
        await session.__aexit__(None, None, None)
    assert "spider" in first.transcript.lower() and "sky" in second.transcript.lower()


async def test_broken_update_is_rolled_back_after_two_failed_starts(real_engines, host_build, tmp_path):
    good_app = (host_build / "hoot" / "app.mpy").read_bytes()
    published = publish_firmware(host_build, tmp_path / "published", {"hoot/app.mpy": b"M\x06 this is not bytecode"})
    async with serving(real_engines, firmware_dir=tmp_path / "published") as url:
        async with Session(url, build=host_build, workdir=tmp_path / "device") as session:
            rolled_back = await session.device.expect("update_rolled_back")
            skipped = await session.device.expect("update_skipped", rolled_back["seq"])
            turn = await session.ask(question(SPIDER))
    flash = tmp_path / "device" / "flash"
    crashes = [e for e in session.device.events if e["ev"] == "crash"]
    assert len(crashes) == 2 and rolled_back["version"] == published["version"] == skipped["version"]
    assert (flash / "hoot" / "app.mpy").read_bytes() == good_app
    assert json.loads((flash / "update.json").read_text()) == {"rejected": published["version"]}
    assert "spider" in turn.transcript.lower()
