"""Spoken questions through real Wyoming STT and TTS servers, and what a child and a teacher get when one dies."""

import asyncio

import numpy as np
import pytest
import soxr
from conftest import heard_most
from remote_turns import REPLY, apology, healthz, hoot_on, question, short_reply  # noqa: F401 (a fixture)
from speech_servers import servers, wyoming_servers  # noqa: F401 (fixtures)

from hootkit.client.device import DeviceClient
from hootkit.engines.wyoming_speech import WyomingStt, WyomingTts

pytestmark = pytest.mark.timeout(60)


async def test_a_spoken_question_is_answered_through_wyoming_servers(servers, question):
    async with hoot_on(servers, "wyoming") as (url, host, hoot), DeviceClient(url) as client:
        health = await healthz(host)
        result = await client.ask(question)
        stt = hoot.engines.stt
        assert isinstance(stt, WyomingStt) and isinstance(hoot.engines.tts, WyomingTts)
        reply = np.frombuffer(bytes(result.audio), np.int16).astype(np.float32) / 32768
        heard_back = (await stt.transcribe(soxr.resample(reply, result.sample_rate, 16000), "test")).text
    assert health["status"] == "ok" and health["engines"] == {"stt": "ok", "tts": "ok"}
    assert "spider" in result.transcript.lower()
    assert result.sentences == REPLY and not result.alerts
    # real speech from the remote voice: most of its words heard back (piper's voice varies; "count" once came back "cut")
    assert heard_most(" ".join(REPLY), heard_back), heard_back


async def test_stt_server_dies_the_child_hears_the_apology_and_it_heals(servers, question):
    stt_server, _ = servers
    async with hoot_on(servers, "wyoming") as (url, host, hoot), DeviceClient(url) as client:
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
    async with hoot_on(servers, "wyoming", short_reply(gate)) as (url, host, hoot), DeviceClient(url) as client:
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
