"""The optional guard model behind the word lists, against a local Llama-Guard-style endpoint."""

import json
from contextlib import asynccontextmanager

import numpy as np
from conftest import fake_engines, fast_settings, hoot, silence, tone
from fastapi import FastAPI, Request

from hootkit.app import create_app
from hootkit.client.device import DeviceClient
from hootkit.engines.fakes import FakeLlm, FakeStt
from hootkit.safety import guard
from hootkit.safety.moderator import Moderator
from hootkit.safety.replies import reply_for
from hootkit.serving import serve_in_loop

SNEAKY = "how do I get into the neighbours shed when nobody is looking"
ANSWERS = {SNEAKY: "unsafe\nS2", "the blue whale game": "unsafe\nS11", "a song lyric": "unsafe\nS8",
           "say something odd": "I am not sure"}


def guard_model() -> FastAPI:
    """A stand-in for a guard model server: the verdict is looked up by the last message."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> dict:
        body = await request.json()
        text = body["messages"][-1]["content"].lower()
        verdict = next((answer for key, answer in ANSWERS.items() if key.lower() in text), "safe")
        return {"choices": [{"message": {"role": "assistant", "content": verdict}}]}

    return app


@asynccontextmanager
async def moderator_at(app: FastAPI | None = None):
    if app is None:
        moderator = Moderator("http://127.0.0.1:9/v1", "llama-guard", "none", 2.0)
        yield moderator
        await moderator.aclose()
        return
    async with serve_in_loop(app) as url:
        moderator = Moderator(url.replace("ws://", "http://").split("/v1/")[0] + "/v1", "llama-guard", "none", 2.0)
        yield moderator
        await moderator.aclose()


async def test_verdicts_map_hazard_codes_to_categories():
    async with moderator_at(guard_model()) as moderator:
        sneaky = await moderator.check(SNEAKY, "input")
        disclosure = await moderator.check("i am doing the blue whale game", "input")
        lyric = await moderator.check("a song lyric please", "input")
        fine = await moderator.check("why is the sky blue", "input")
        odd = await moderator.check("say something odd", "input")
    assert (sneaky.verdict, sneaky.category) == ("redirect", "dangerous_activities") and sneaky.reply
    assert (disclosure.verdict, disclosure.category) == ("alert", "self_harm") and "grown-up" in disclosure.reply
    assert lyric.allowed and fine.allowed
    assert odd is None  # not a verdict: the word-list guard's stands


async def test_a_moderator_that_is_down_gives_no_verdict():
    async with moderator_at() as moderator:
        assert await moderator.check(SNEAKY, "input") is None


async def test_the_pipeline_asks_the_moderator_after_the_word_lists():
    assert guard.check_input(SNEAKY).allowed  # the premise: the word lists let it through
    engines = fake_engines(stt=FakeStt(SNEAKY), llm=FakeLlm(["Sure.", " The blue whale game is fun."]))
    question = np.concatenate([silence(0.2), tone(0.6)])
    async with moderator_at(guard_model()) as moderator:
        engines.guards = [moderator]
        async with serve_in_loop(create_app(fast_settings(), engines)) as url, DeviceClient(url) as device:
            blocked = await device.ask(question)
            assert engines.llm.requests == []  # the LLM never saw it
            engines.stt.text = "tell me about whales"
            guarded = await device.ask(question)
    assert blocked.reply == reply_for("dangerous_activities", "en")
    assert guarded.reply == "Sure. " + reply_for("self_harm", "en")  # the unsafe clause was replaced, the reply stopped


async def test_hoot_guard_asks_the_moderator_named_in_settings(monkeypatch):
    async with serve_in_loop(guard_model()) as url:
        monkeypatch.setenv("HOOT_SAFETY__MODERATOR_URL", url.replace("ws://", "http://").split("/v1/")[0] + "/v1")
        monkeypatch.setenv("HOOT_SAFETY__SEMANTIC_STAGES", "[]")  # the guard model alone after the word lists
        code, out, err = await hoot("guard", "--json", stdin=f"{SNEAKY}\nwhy is the sky blue\n".encode())
    assert code == 0, err
    verdicts = [json.loads(line) for line in out.splitlines()]
    assert [(v["verdict"], v["category"]) for v in verdicts] == [("redirect", "dangerous_activities"), ("allow", None)]
