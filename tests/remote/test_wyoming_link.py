"""The Wyoming engines' time limits, retries and clean closes against tiny fake servers, and what a turn does
when a remote engine fails."""

import asyncio
import socket
import time
from contextlib import asynccontextmanager

import numpy as np
import pytest
from conftest import fake_engines, silence, tone
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import async_read_event, async_write_event

from hootkit.client.device import DeviceClient
from hootkit.engines.base import BackendError
from hootkit.engines.fakes import EnergyVad, FakeLlm, FakeStt, FakeTts
from hootkit.engines.registry import Engines
from hootkit.engines.wyoming_speech import WyomingStt, WyomingTts
from hootkit.pipeline.clauses import ClauseSplitter
from hootkit.pipeline.turn import FALLBACK
from hootkit.settings import Settings

pytestmark = pytest.mark.timeout(30)
SECOND = np.zeros(16000, np.float32)


@asynccontextmanager
async def fake_server(handle):
    """A TCP server on a free port running `handle(reader, writer)` per connection; yields its tcp:// url."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


def apology() -> list[str]:
    splitter = ClauseSplitter()
    return splitter.push(FALLBACK) + splitter.flush()


async def test_a_server_that_never_answers_is_a_backend_error_within_the_time_limit():
    async def silent(reader, writer):
        await reader.read()  # takes everything, answers nothing

    async with fake_server(silent) as url:
        stt = WyomingStt(url, "en", timeout_s=0.5)
        start = time.perf_counter()
        with pytest.raises(BackendError, match=r"speech-to-text at tcp://.* did not answer within 0.5 s"):
            await stt.transcribe(SECOND, "t")
        assert time.perf_counter() - start < 1.5
        engines = Engines(vad=None, stt=stt, llm=None, tts=WyomingTts(url, None, 0.5, probe=False))
        assert await engines.health(timeout_s=0.3) == {"stt": "no answer within 0.3 s", "tts": "no answer within 0.3 s"}
        await engines.close()


async def test_a_servers_own_error_text_stays_in_the_log_not_in_what_devices_and_healthz_see():
    async def failing(reader, writer):
        await async_read_event(reader)
        await async_write_event(Error(text="CUDA failed at /srv/models 10.9.8.7", code="oom").event(), writer)
        writer.close()

    async with fake_server(failing) as url:
        with pytest.raises(BackendError) as failed:
            async for _ in WyomingTts(url, None, 5.0, probe=False).synthesize("Hello.", "t"):
                pass
    assert "10.9.8.7" in str(failed.value) and failed.value.brief == "text-to-speech failed"


async def test_a_refused_connection_is_retried_then_named():
    with socket.socket() as sock:  # a port nobody listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        url = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    start = time.perf_counter()
    with pytest.raises(BackendError, match=r"text-to-speech at tcp://127.0.0.1:\d+ is unreachable: ConnectionRefusedError"):
        async for _ in WyomingTts(url, None, 5.0, probe=False).synthesize("Hello.", "t"):
            pass
    assert 0.25 < time.perf_counter() - start < 2.0  # two retries with backoff, well within the time limit


async def test_a_dropped_connection_before_the_answer_is_retried():
    connections = []

    async def flaky(reader, writer):
        connections.append(writer)
        if len(connections) == 1:  # the first connection is dropped before any answer
            writer.close()
            return
        while not AudioStop.is_type((await async_read_event(reader)).type):
            pass
        await async_write_event(Transcript(text=" hello there").event(), writer)
        writer.close()

    async with fake_server(flaky) as url:
        heard = await WyomingStt(url, "en", timeout_s=5.0).transcribe(SECOND, "t")
    assert heard.text == "hello there" and len(connections) == 2


async def test_closing_the_audio_early_closes_the_connection():
    closed = asyncio.Event()

    async def endless(reader, writer):
        await async_read_event(reader)
        await async_write_event(AudioStart(rate=16000, width=2, channels=1).event(), writer)
        try:
            while True:  # a very long clause; each write waits (drain) once the reader stops reading
                await async_write_event(AudioChunk(rate=16000, width=2, channels=1, audio=bytes(2048)).event(), writer)
        except ConnectionError:
            closed.set()

    async with fake_server(endless) as url:
        tts = WyomingTts(url, None, 5.0, probe=False)
        audio = tts.synthesize("Once upon a time.", "t")
        first = await anext(audio)
        await audio.aclose()  # a child barged in
        await asyncio.wait_for(closed.wait(), 5)
    assert first.dtype == np.int16 and len(first) > 0


class DownStt(FakeStt):
    async def transcribe(self, pcm, key, hints=()):
        raise BackendError("speech-to-text at tcp://127.0.0.1:10300 is unreachable: ConnectionRefusedError",
                           brief="speech-to-text is unreachable")


async def test_stt_down_gives_the_spoken_apology_and_an_alert_naming_it(serve):
    async with serve(fake_engines(stt=DownStt())) as url, DeviceClient(url) as client:
        result = await client.ask(np.concatenate([silence(0.2), tone(0.6)]))
    assert [alert.code for alert in result.alerts] == ["backend_unavailable"]
    assert result.alerts[0].message == "speech-to-text is unreachable"  # the device is told which, not where
    assert result.sentences == apology() and result.audio


def test_remote_speech_is_chosen_from_the_environment(monkeypatch):
    monkeypatch.setenv("HOOT_STT__BACKEND", "wyoming")
    monkeypatch.setenv("HOOT_STT__URL", "tcp://127.0.0.1:10300")
    monkeypatch.setenv("HOOT_TTS__BACKEND", "wyoming")
    monkeypatch.setenv("HOOT_TTS__URL", "tcp://speech.school.lan:10200")
    settings = Settings()
    assert (settings.stt.backend, settings.stt.url, settings.tts.backend) == ("wyoming", "tcp://127.0.0.1:10300", "wyoming")
    with pytest.raises(ValueError, match="tcp://host:port"):
        WyomingStt("http://127.0.0.1:10300", "en", 1.0)


class CountedHealth(FakeStt):
    """A remote STT whose health checks are counted, each held until `answer` is set."""

    def __init__(self):
        super().__init__()
        self.asked = 0
        self.answer = asyncio.Event()

    async def health(self) -> None:
        self.asked += 1
        await self.answer.wait()


async def test_health_is_asked_once_for_a_crowd_of_healthz_calls_and_reused_for_a_while():
    stt = CountedHealth()
    engines = Engines(vad=EnergyVad(), stt=stt, llm=FakeLlm(), tts=FakeTts())
    crowd = [asyncio.create_task(engines.health()) for _ in range(50)]
    stt.answer.set()
    assert await asyncio.gather(*crowd) == [{"stt": "ok"}] * 50
    assert await engines.health() == {"stt": "ok"}
    assert stt.asked == 1
