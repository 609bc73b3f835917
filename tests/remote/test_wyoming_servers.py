"""Spoken questions through real Wyoming STT and TTS servers, and what a child and a teacher get when one dies."""

import asyncio
import re
from contextlib import asynccontextmanager

import httpx
import numpy as np
import pytest
import soxr
from conftest import fast_settings, silence
from speech_servers import servers, wyoming_servers  # noqa: F401 (fixtures)

from hootkit.app import create_app
from hootkit.client.device import DeviceClient
from hootkit.client.speech import speak
from hootkit.engines.fakes import FakeLlm
from hootkit.engines.registry import Engines, build_stt, build_tts, build_vad
from hootkit.engines.wyoming_speech import WyomingStt, WyomingTts
from hootkit.pipeline.clauses import ClauseSplitter
from hootkit.pipeline.turn import FALLBACK
from hootkit.serving import serve_in_loop

pytestmark = pytest.mark.timeout(60)
SPIDER = "Spider legs?"  # short words both ways: replies are played at real-time pace
REPLY = ["Eight legs.", "Count them!"]


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def short_reply(gate: asyncio.Event | None = None) -> FakeLlm:
    return FakeLlm(["Eight", " legs.", " Count", " them!"], gate=gate)


def apology() -> list[str]:
    splitter = ClauseSplitter()
    return splitter.push(FALLBACK) + splitter.flush()


@pytest.fixture(scope="module")
def question() -> np.ndarray:
    return np.concatenate([speak(SPIDER), silence(0.1)])


@asynccontextmanager
async def hoot_on(servers, llm: FakeLlm | None = None):
    """A Hootkit server whose speech engines are the Wyoming servers, chosen in settings (and warmed up, so the
    apology is kept); yields (device url, http base url, the app's state)."""
    stt_server, tts_server = servers
    settings = fast_settings(warmup=True, stt={"backend": "wyoming", "url": stt_server.url, "language": "en"},
                             tts={"backend": "wyoming", "url": tts_server.url})
    engines = await asyncio.to_thread(
        lambda: Engines(vad=build_vad(), stt=build_stt(settings), llm=llm or short_reply(), tts=build_tts(settings))
    )
    assert isinstance(engines.stt, WyomingStt) and isinstance(engines.tts, WyomingTts)
    app = create_app(settings, engines)
    async with serve_in_loop(app) as url:
        yield url, url.split("/", 3)[2], app.state.hoot
    await engines.close()


async def healthz(host: str) -> dict:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://{host}/healthz")
    assert response.status_code == 200  # a load balancer keeps sending devices: they hear the apology
    return response.json()


async def test_a_spoken_question_is_answered_through_wyoming_servers(servers, question):
    async with hoot_on(servers) as (url, host, hoot), DeviceClient(url) as client:
        health = await healthz(host)
        result = await client.ask(question)
        stt = hoot.engines.stt
        reply = np.frombuffer(bytes(result.audio), np.int16).astype(np.float32) / 32768
        heard_back = (await stt.transcribe(soxr.resample(reply, result.sample_rate, 16000), "test")).text
    assert health["status"] == "ok" and health["engines"] == {"stt": "ok", "tts": "ok"}
    assert "spider" in result.transcript.lower()
    assert result.sentences == REPLY and not result.alerts
    # real speech from the remote voice: most of its words heard back (piper's voice varies; "count" once came back "cut")
    said, heard = words(" ".join(REPLY)), words(heard_back.replace("8", "eight"))
    assert len(said & heard) >= len(said) / 2, heard_back


async def test_stt_server_dies_the_child_hears_the_apology_and_it_heals(servers, question):
    stt_server, _ = servers
    async with hoot_on(servers) as (url, host, hoot), DeviceClient(url) as client:
        stt_server.kill()
        health = await healthz(host)
        with hoot.live.subscribe() as feed:
            failed = await client.ask(question)
            while (news := await asyncio.wait_for(feed.queue.get(), 10)).kind != "turn":
                pass
        stt_server.start()
        healed = await client.ask(question)
    assert health["status"] == "degraded" and health["engines"]["tts"] == "ok"
    assert health["engines"]["stt"] == "speech-to-text is unreachable"  # /healthz is public: no address, no errno
    assert [alert.code for alert in failed.alerts] == ["backend_unavailable"]
    assert failed.alerts[0].message == "speech-to-text is unreachable"
    assert failed.sentences == apology() and failed.audio
    assert news.data["outcome"] == "error"  # the teacher's live transcript says which engine failed, and so does the record
    assert news.data["error"] == "speech-to-text is unreachable"
    assert "spider" in healed.transcript.lower() and healed.sentences == REPLY and not healed.alerts


async def test_tts_server_dies_mid_reply_the_apology_is_said_from_memory_and_it_heals(servers, question):
    _, tts_server = servers
    gate = asyncio.Event()  # the LLM holds its second clause until the TTS server is dead
    async with hoot_on(servers, short_reply(gate)) as (url, host, hoot), DeviceClient(url) as client:
        asking = asyncio.create_task(client.ask(question))
        await client.heard_audio.wait()  # the first clause is playing
        tts_server.kill()
        gate.set()
        failed = await asking
        tts_server.start()
        healed = await client.ask(question)
    assert [alert.code for alert in failed.alerts] == ["backend_unavailable"]
    assert failed.alerts[0].message.startswith("text-to-speech ") and tts_server.url not in failed.alerts[0].message
    assert failed.sentences[0] == REPLY[0] and failed.sentences[-2:] == apology()
    assert len(failed.audio) / 2 / failed.sample_rate > 2.5  # the first clause and the whole apology were heard
    assert healed.sentences == REPLY and not healed.alerts and healed.audio
