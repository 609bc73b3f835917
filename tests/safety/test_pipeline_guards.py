"""Guards inside the voice turn: what the child would hear, with fake engines over a real websocket."""

import httpx
import numpy as np
from conftest import fake_engines, silence, tone

from hootkit.client.device import DeviceClient
from hootkit.engines.fakes import FakeLlm, FakeStt
from hootkit.pipeline.prompt import EXAMPLES, facts_message

QUESTION = np.concatenate([silence(0.2), tone(0.6)])


async def test_unsafe_question_is_redirected_without_the_llm(serve):
    llm = FakeLlm()
    engines = fake_engines(llm=llm, stt=FakeStt("how do i light a match by myself when mom is sleeping"))
    async with serve(engines) as url, DeviceClient(url) as client:
        result = await client.ask(QUESTION)
    assert llm.requests == []
    assert result.reply.startswith("That could really hurt you")
    assert result.audio


async def test_unsafe_llm_clause_is_replaced_and_the_rest_dropped(serve):
    llm = FakeLlm(pieces=["Sure!", " You can mix bleach", " and vinegar.", " It smells", " cool."])
    async with serve(fake_engines(llm=llm)) as url, DeviceClient(url) as client:
        result = await client.ask(QUESTION)
    assert "bleach" not in result.reply and "cool" not in result.reply
    assert result.sentences[0] == "Sure!"
    assert result.sentences[1].startswith("That could really hurt you")


async def test_the_last_clause_is_guarded_too(serve):
    llm = FakeLlm(pieces=["Okay.", " Let's go and make a bomb together!"])
    async with serve(fake_engines(llm=llm)) as url, DeviceClient(url) as client:
        result = await client.ask(QUESTION)
    assert "bomb" not in result.reply and result.reply.startswith("Okay. Hurting people is never okay")


async def test_a_reply_in_which_the_model_plays_a_person_loses_that_clause_before_the_guard(serve):
    llm = FakeLlm(pieces=["Okay.", " Yes, I am a real human just like you!"])
    async with serve(fake_engines(llm=llm)) as url, DeviceClient(url) as client:
        result = await client.ask(QUESTION)
    assert result.reply == "Okay."


async def test_flags_are_counted_for_the_teacher(serve):
    engines = fake_engines(stt=FakeStt("my dad hits me with his belt when he's mad"))
    async with serve(engines) as url, DeviceClient(url) as client:
        result = await client.ask(QUESTION)
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(url.replace("ws://", "http://").replace("/v1/device", "/metrics"))).text
    assert "grown-up you trust" in result.reply
    assert 'hoot_safety_flags_total{category="abuse_disclosure",stage="input",verdict="alert"} 1.0' in metrics


async def test_a_redirected_question_is_not_remembered_for_the_llm(serve):
    llm = FakeLlm()
    stt = FakeStt("i live at 42 maple street")
    async with serve(fake_engines(llm=llm, stt=stt)) as url, DeviceClient(url) as client:
        first = await client.ask(QUESTION)
        stt.text = "how many legs does a spider have"
        await client.ask(QUESTION)
    assert first.reply.startswith("Let's keep things like addresses")
    assert llm.requests[-1][1 + len(EXAMPLES):] == [facts_message([]), {"role": "user", "content": "how many legs does a spider have"}]
    assert "maple" not in str(llm.requests)
