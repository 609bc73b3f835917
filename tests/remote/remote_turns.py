"""A Hootkit server whose speech engines are remote servers chosen in settings, and what its tests ask and expect."""

import asyncio
from contextlib import asynccontextmanager

import httpx
import numpy as np
import pytest
from conftest import fast_settings, silence

from hootkit.app import create_app
from hootkit.client.speech import speak
from hootkit.engines.fakes import FakeLlm
from hootkit.engines.registry import Engines, build_stt, build_tts, build_vad
from hootkit.pipeline.clauses import ClauseSplitter
from hootkit.pipeline.turn import FALLBACK
from hootkit.serving import serve_in_loop

SPIDER = "Spider legs?"  # short words both ways: replies are played at real-time pace
REPLY = ["Eight legs.", "Count them!"]


def short_reply(gate: asyncio.Event | None = None) -> FakeLlm:
    return FakeLlm(["Eight", " legs.", " Count", " them!"], gate=gate)


def apology() -> list[str]:
    splitter = ClauseSplitter()
    return splitter.push(FALLBACK) + splitter.flush()


@pytest.fixture(scope="module")
def question() -> np.ndarray:
    return np.concatenate([speak(SPIDER), silence(0.1)])


@asynccontextmanager
async def hoot_on(servers, backend: str, llm: FakeLlm | None = None):
    """A Hootkit server whose speech engines are `servers` (stt, tts) through `backend` ("wyoming", "openai"),
    chosen in settings (and warmed up, so the apology is kept); yields (device url, http host, the app's state)."""
    stt_server, tts_server = servers
    settings = fast_settings(warmup=True, stt={"backend": backend, "url": stt_server.url, "language": "en"},
                             tts={"backend": backend, "url": tts_server.url})
    engines = await asyncio.to_thread(
        lambda: Engines(vad=build_vad(), stt=build_stt(settings), llm=llm or short_reply(), tts=build_tts(settings))
    )
    app = create_app(settings, engines)
    async with serve_in_loop(app) as url:
        yield url, url.split("/", 3)[2], app.state.hoot
    await engines.close()


async def healthz(host: str) -> dict:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://{host}/healthz")
    assert response.status_code == 200  # a load balancer keeps sending devices: they hear the apology
    return response.json()
