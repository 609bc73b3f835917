"""Turn-taking for children: a thinking pause is waited out, a finished question is answered at once,
push-to-talk waits for the button (fake engines, real websocket)."""

import asyncio

import numpy as np
import pytest
from conftest import fake_engines, fast_settings, silence, tone

from hootkit.client.device import DeviceClient
from hootkit.engines.base import STT_RATE, Transcript
from hootkit.engines.fakes import FakeStt
from hootkit.pipeline.turn_end import TurnEndJudge

pytestmark = pytest.mark.timeout(30)

FIRST_HALF = tone(0.6)
WHOLE = np.concatenate([silence(0.2), FIRST_HALF, silence(0.9), tone(0.6)])


class HalfHeardStt(FakeStt):
    """Hears a dangling half question in audio up to 1 s long, the whole question in longer audio."""

    async def transcribe(self, pcm, key, hints=()) -> Transcript:
        self.calls += 1
        await asyncio.sleep(0)
        text = "how many legs does a" if len(pcm) < STT_RATE else "how many legs does a spider have"
        return Transcript(text=text, language="en", audio_s=len(pcm) / STT_RATE)


class Model:
    """An end-of-turn model that always gives the same probability, and counts what it was asked."""

    def __init__(self, probability: float):
        self.value = probability
        self.asked: list[int] = []

    def probability(self, pcm: np.ndarray) -> float:
        self.asked.append(len(pcm))
        return self.value


async def test_a_question_with_a_thinking_pause_is_answered_whole(serve):
    async with serve(fake_engines(stt=HalfHeardStt())) as url, DeviceClient(url) as client:
        result = await client.ask(WHOLE)
    assert result.transcript == "how many legs does a spider have"
    assert result.vtv_ms is not None  # the reply began after the child's last word
    assert result.trace.count("stt") == 1


async def ask_judged_by(serve, model: Model, timeout_s: float):
    """One tone question, with the longest silence far beyond the client's patience: only the
    short-silence judgement can commit it."""
    engines = fake_engines()
    engines.turn_end = TurnEndJudge(model, threshold=0.5)
    settings = fast_settings(vad={"quiet_ms": 200, "silence_ms": 20000})
    try:
        async with serve(engines, settings) as url, DeviceClient(url) as client:
            return await client.ask(np.concatenate([silence(0.2), tone(0.6)]), timeout_s=timeout_s)
    finally:
        engines.turn_end.close()


async def test_a_finished_question_is_answered_after_the_short_silence(serve):
    model = Model(0.9)
    result = await ask_judged_by(serve, model, timeout_s=8)
    assert result.sentences and result.vtv_ms is not None
    assert model.asked, "the end-of-turn model was not asked"


async def test_the_model_saying_unfinished_holds_the_turn_until_the_longest_silence(serve):
    model = Model(0.1)
    with pytest.raises(TimeoutError):
        await ask_judged_by(serve, model, timeout_s=3)
    assert model.asked


async def test_push_to_talk_waits_for_the_button_whatever_the_pauses(serve):
    stt = HalfHeardStt()
    settings = fast_settings(vad={"quiet_ms": 200, "silence_ms": 400})
    async with serve(fake_engines(stt=stt), settings) as url, DeviceClient(url) as client:
        result = await client.ask(np.concatenate([WHOLE, silence(1.0)]), mode="manual")
    assert result.transcript == "how many legs does a spider have"
    assert stt.calls == 1 and result.trace.count("stt") == 1
