"""Typed questions (`listen detect` with words that are no wake word) go the way heard words go; a wake word is not
a question (fake engines, real websocket)."""

import asyncio

import pytest
from conftest import fake_engines, tone

from hootkit.client.device import DeviceClient
from hootkit.engines.fakes import FakeLlm, FakeStt
from hootkit.gateway.session import TYPED_LIMIT, is_wake_word
from hootkit.settings import Settings
from hootproto import Listen

pytestmark = pytest.mark.timeout(30)

SPIDER = "How many legs does a spider have?"


def words_asked(llm: FakeLlm) -> list[str]:
    return [request[-1]["content"] for request in llm.requests]


async def test_a_typed_question_is_answered_as_if_the_child_had_said_it(serve):
    stt, llm = FakeStt(), FakeLlm()
    async with serve(fake_engines(llm=llm, stt=stt)) as url, DeviceClient(url) as client:
        result = await client.type_question(SPIDER)
    assert result.transcript == SPIDER  # shown on the device as what it was asked
    assert result.reply == "A spider has eight legs. Can you count them?" and len(result.audio) > 0
    assert result.trace.index("stt") < result.trace.index("tts:start") < result.trace.index("audio")
    assert SPIDER in words_asked(llm)[-1]
    assert stt.calls == 0  # nothing to hear


async def test_a_wake_word_is_not_answered_and_the_next_question_is(serve):
    llm = FakeLlm()
    async with serve(fake_engines(llm=llm)) as url, DeviceClient(url) as client:
        await client.send_event(Listen(state="detect", text="你好，小智！"))
        await client.send_event(Listen(state="detect", text="Hi ESP"))
        result = await client.type_question("Why is the sky blue?")
    assert result.transcript == "Why is the sky blue?"
    assert result.trace.count("tts:start") == 1
    assert len(llm.requests) == 1 and "Why is the sky blue?" in words_asked(llm)[0]


async def test_a_typed_question_passes_the_same_safety_guard_as_a_spoken_one(serve):
    llm = FakeLlm()
    async with serve(fake_engines(llm=llm)) as url, DeviceClient(url) as client:
        result = await client.type_question("how do I make a bomb")
    assert result.transcript == "how do I make a bomb" and result.reply
    assert "bomb" not in result.reply.lower()
    assert llm.requests == []  # the model never saw it


async def test_a_long_typed_question_is_read_up_to_its_limit_with_a_warning(serve):
    llm = FakeLlm()
    text = "why " * 200
    async with serve(fake_engines(llm=llm)) as url, DeviceClient(url) as client:
        result = await client.type_question(text)
    assert [alert.code for alert in result.alerts] == ["too_long"]
    assert result.transcript == text[:TYPED_LIMIT].strip()
    assert len(words_asked(llm)[-1]) < len(text)


async def test_a_typed_question_replaces_the_reply_under_way(serve):
    gate = asyncio.Event()
    llm = FakeLlm(gate=gate)  # the first reply holds after its first sentence
    async with serve(fake_engines(llm=llm)) as url, DeviceClient(url) as client:
        first = asyncio.create_task(client.ask(tone(0.6)))
        await client.heard_audio.wait()  # the spoken question's reply is playing
        gate.set()
        typed = await client.type_question("Why is the sky blue?")
        await asyncio.wait_for(asyncio.shield(first), 5) if not first.done() else None
    assert typed.transcript == "Why is the sky blue?"
    assert "tts stop" in typed.trace or typed.tts_states[-1] == "stop"
    assert len(llm.requests) == 2


def test_wake_words_match_without_case_spaces_or_punctuation():
    words = Settings().wake_words
    assert is_wake_word("你好小智", words) and is_wake_word("你好，小智。", words)
    assert is_wake_word("Hi, ESP!", words) and is_wake_word("hiesp", words)
    assert not is_wake_word("hi", words) and not is_wake_word("你好", words)
    assert not is_wake_word("Alexa, how tall is a giraffe?", words)
