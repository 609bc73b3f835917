"""The output check on a reply clause runs while the clause is synthesised, and its audio waits for the verdict."""

import asyncio

import numpy as np
from conftest import fake_engines, silence, tone

from hootkit.client.device import DeviceClient
from hootkit.engines.fakes import FakeLlm, FakeStt, FakeTts
from hootkit.safety.guard import flagged
from hootkit.safety.replies import reply_for

QUESTION = np.concatenate([silence(0.2), tone(0.6)])


class WatchedTts(FakeTts):
    """FakeTts that says when it has synthesised a clause."""

    def __init__(self):
        super().__init__()
        self.synthesised = asyncio.Event()

    async def synthesize(self, text, key):
        async for chunk in super().synthesize(text, key):
            yield chunk
        self.synthesised.set()


class GatedGuard:
    """A guard after the word lists whose verdict on a reply waits for `gate`; objects when `objects`."""

    def __init__(self, objects: bool):
        self.gate = asyncio.Event()
        self.asked = asyncio.Event()
        self.objects = objects

    async def check(self, text, stage, question=""):
        if stage != "output":
            return None
        self.asked.set()
        await self.gate.wait()
        return flagged(text, stage, "violence") if self.objects else None

    async def aclose(self):
        return None


async def _ask_with(serve, guard: GatedGuard):
    engines = fake_engines(llm=FakeLlm(["Spiders have eight legs.", " Count them!"]), stt=FakeStt("spider legs"))
    engines.tts = WatchedTts()
    engines.guards = [guard]
    async with serve(engines) as url, DeviceClient(url) as client:
        asking = asyncio.create_task(client.ask(QUESTION))
        await guard.asked.wait()
        # the clause's audio is ready while the verdict is pending (the old path synthesised only after it)
        await asyncio.wait_for(engines.tts.synthesised.wait(), 20)
        assert not client.heard_audio.is_set()
        guard.gate.set()
        return await asyncio.wait_for(asking, 30), engines.tts


async def test_the_first_clause_is_synthesised_during_the_check_and_sent_after_it(serve):
    answer, tts = await _ask_with(serve, GatedGuard(objects=False))
    assert answer.reply == "Spiders have eight legs. Count them!"
    assert tts.texts[0] == "Spiders have eight legs." and len(answer.audio) > 0


async def test_a_clause_the_check_stops_is_never_heard(serve):
    answer, tts = await _ask_with(serve, GatedGuard(objects=True))
    assert answer.reply == reply_for("violence", "en")
    assert tts.texts == ["Spiders have eight legs.", reply_for("violence", "en")]
