"""End to end with the real embedded models over a real websocket: speech in, speech out."""

import asyncio
import dataclasses
import re

import numpy as np
import pytest
from conftest import fast_settings, silence

from hootkit.app import create_app
from hootkit.client.device import DeviceClient
from hootkit.client.speech import speak
from hootkit.client.wavio import last_voiced_sample
from hootkit.engines.fakes import FakeStt
from hootkit.serving import serve_in_loop

pytestmark = pytest.mark.models

SPIDER = "How many legs does a spider have?"
SKY = "Why is the sky blue?"


def question(text: str) -> np.ndarray:
    return np.concatenate([speak(text), silence(0.1)])


def hear_back(engines, result) -> str:
    """Transcribe the reply audio with the same STT: real speech has words."""
    import soxr

    audio = np.frombuffer(bytes(result.audio), np.int16).astype(np.float32) / 32768
    return engines.stt.transcribe_now(soxr.resample(audio, result.sample_rate, 16000)).text


def serve(engines, **settings):
    return serve_in_loop(create_app(fast_settings(**settings), engines))


async def test_spider_question_gets_a_spoken_answer(real_engines):
    async with serve(real_engines) as url, DeviceClient(url) as client:
        result = await client.ask(question(SPIDER))
    assert "spider" in result.transcript.lower()
    assert result.tts_states[0] == "start" and result.tts_states[-1] == "stop"
    assert set(result.tts_states[1:-1]) == {"sentence_start"} and len(result.tts_states) >= 3
    assert result.reply and result.vtv_ms is not None
    assert any(ch.isalpha() for ch in hear_back(real_engines, result))
    assert {"endpoint_wait", "stt", "llm_first_token", "tts_first_audio", "server_vtv"} <= set(result.parts)


async def test_push_to_talk_turn(real_engines):
    async with serve(real_engines) as url, DeviceClient(url) as client:
        result = await client.ask(question(SKY), mode="manual")
    assert "sky" in result.transcript.lower() and result.reply


async def test_barge_in_stops_the_reply_and_next_question_works(real_engines):
    async with serve(real_engines) as url, DeviceClient(url) as client:
        aborted = await client.ask(question(SPIDER), abort_after_s=0.2)
        assert aborted.abort_sent_at is not None
        stop = aborted.trace.index("tts:stop")
        assert "audio" not in aborted.trace[stop:]
        after = await client.ask(question(SKY))
    assert "sky" in after.transcript.lower() and after.reply and after.audio


async def test_two_devices_at_once_get_their_own_answers(real_engines):
    async with serve(real_engines) as url, DeviceClient(url, device_id="a") as one, DeviceClient(url, device_id="b") as two:
        spider, sky = await asyncio.gather(one.ask(question(SPIDER)), two.ask(question(SKY)))
    assert "spider" in spider.transcript.lower() and "sky" in sky.transcript.lower()
    assert spider.audio and sky.audio


async def test_silence_before_speaking_makes_no_turn(real_engines):
    async with serve(real_engines) as url, DeviceClient(url) as client:
        result = await client.ask(np.concatenate([silence(1.5), question(SPIDER)]))
    assert "spider" in result.transcript.lower()
    assert result.trace.count("stt") == 1


async def test_a_minute_of_non_stop_speech_is_cut_and_answered(real_engines):
    words = speak("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen", lead_s=0)
    words = words[: last_voiced_sample(words, 16000)]
    speech = np.tile(words, int(np.ceil(60 * 16000 / len(words))))[: 60 * 16000]
    async with serve(real_engines, vad={"max_utterance_s": 10.0}) as url, DeviceClient(url) as client:
        result = await client.ask(speech, speed=4.0)
    assert "too_long" in [alert.code for alert in result.alerts]
    assert result.transcript and result.audio


async def test_the_spider_answer_says_eight_in_under_thirty_words(real_engines):
    # The words heard are given, so this checks the answer alone: whisper's float32 sums differ between CPUs,
    # and on CI's it once heard "How many likes does a spider have?" (how well it hears: bench/hearing.py).
    heard_right = dataclasses.replace(real_engines, stt=FakeStt(SPIDER))
    async with serve(heard_right) as url, DeviceClient(url) as client:
        result = await client.ask(question(SPIDER))
    assert result.transcript == SPIDER and result.audio
    assert re.search(r"\b(eight|8)\b", result.reply, re.IGNORECASE), result.reply
    assert len(result.reply.split()) <= 30


async def test_a_question_nobody_here_can_answer_gets_an_honest_not_sure(real_engines):
    async with serve(real_engines) as url, DeviceClient(url) as client:
        result = await client.ask(question("What is the name of my cat?"))
    assert re.search(r"not sure|don't know|do not know|can't know|cannot know|find out", result.reply, re.IGNORECASE), result.reply


async def test_a_sum_is_worked_out_not_guessed(real_engines):
    async with serve(real_engines) as url, DeviceClient(url) as client:
        result = await client.ask(question("What is seven times eight?"))
    assert "56" in result.reply, (result.transcript, result.reply)
