"""Spoken questions through real OpenAI-compatible speech servers (faster-whisper-server, local-tts-studio with
piper), what a child and a teacher get when one dies, and WAV answers read as they arrive."""

import asyncio
import io
import struct
import wave

import numpy as np
import pytest
import soxr
from conftest import content_words, fast_settings, heard_most
from remote_turns import REPLY, apology, healthz, hoot_on, question  # noqa: F401 (a fixture)
from speech_servers import free_port, openai, openai_servers  # noqa: F401 (fixtures)

from hootkit.client.device import DeviceClient
from hootkit.client.speech import speak
from hootkit.engines.base import BackendError
from hootkit.engines.openai_speech import OpenAiStt, OpenAiTts, WavStream
from hootkit.engines.registry import build_stt

pytestmark = pytest.mark.timeout(90)
QUESTION = "How many legs does a spider have?"


async def test_the_transcription_server_hears_what_the_embedded_model_hears(openai):
    stt_server, _ = openai
    speech = speak(QUESTION).astype(np.float32) / 32768
    # the same model and window as the server's (in-process Hootkit fits the window to the utterance instead)
    embedded = await asyncio.to_thread(build_stt, fast_settings(stt={"language": "en", "min_window_s": 30}))
    remote = OpenAiStt(stt_server.url, "whisper-1", "en", "", 30.0)
    try:
        here = (await embedded.transcribe(speech, "test")).text
        there = await remote.transcribe(speech, "test")
    finally:
        await remote.aclose()
    # Hootkit decodes with its own prompt, so a small word may differ ("a spider" / "the spider"); the rest agrees
    heard_here, heard_there = content_words(here), content_words(there.text)
    assert {"legs", "spider"} <= heard_there and len(heard_there & heard_here) >= 0.8 * len(heard_here), (here, there.text)
    assert there.language == "en" and there.audio_s == pytest.approx(len(speech) / 16000)


async def test_a_spoken_question_is_answered_through_openai_speech_servers(openai, question):
    async with hoot_on(openai, "openai") as (url, host, hoot), DeviceClient(url) as client:
        health = await healthz(host)
        result = await client.ask(question)
        stt = hoot.engines.stt
        assert isinstance(stt, OpenAiStt) and isinstance(hoot.engines.tts, OpenAiTts)
        reply = np.frombuffer(bytes(result.audio), np.int16).astype(np.float32) / 32768
        heard_back = (await stt.transcribe(soxr.resample(reply, result.sample_rate, 16000), "test")).text
    assert health["status"] == "ok" and health["engines"] == {"stt": "ok", "tts": "ok"}
    assert hoot.engines.tts.sample_rate == 22050  # learnt from the server's WAV at load
    assert "spider" in result.transcript.lower()
    assert result.sentences == REPLY and not result.alerts
    assert heard_most(" ".join(REPLY), heard_back), heard_back


async def test_tts_server_dies_the_child_hears_the_apology_and_it_heals(openai, question):
    _, tts_server = openai
    async with hoot_on(openai, "openai") as (url, host, hoot), DeviceClient(url) as client:
        tts_server.kill()
        health = await healthz(host)
        with hoot.live.subscribe() as feed:
            failed = await client.ask(question)
            while (news := await asyncio.wait_for(feed.queue.get(), 10)).kind != "turn":
                pass
        tts_server.start()
        healed = await client.ask(question)
    assert health["status"] == "degraded" and health["engines"]["stt"] == "ok"
    assert health["engines"]["tts"] == "text-to-speech is unreachable"  # /healthz is public: no address, no errno
    assert [alert.code for alert in failed.alerts] == ["backend_unavailable"]
    assert failed.sentences[-2:] == apology() and failed.audio  # said from memory
    assert news.data["outcome"] == "error" and news.data["error"] == "text-to-speech is unreachable"
    assert healed.sentences == REPLY and not healed.alerts and healed.audio


async def test_a_refusal_names_the_status_not_the_servers_words(openai):
    _, tts_server = openai
    wrong_server = OpenAiStt(tts_server.url, "whisper-1", "en", "", 10.0)  # a speech server: no transcriptions
    nobody = OpenAiStt(f"http://127.0.0.1:{free_port()}/v1", "whisper-1", "en", "", 10.0)
    try:
        with pytest.raises(BackendError) as refused:
            await wrong_server.transcribe(np.zeros(16000, np.float32), "test")
        with pytest.raises(BackendError) as unreachable:
            await nobody.transcribe(np.zeros(16000, np.float32), "test")
    finally:
        await wrong_server.aclose()
        await nobody.aclose()
    assert refused.value.brief == "speech-to-text answered 405" and "Method Not Allowed" in str(refused.value)
    assert unreachable.value.brief == "speech-to-text is unreachable" and "127.0.0.1" in str(unreachable.value)


def wav_file(samples: np.ndarray, rate: int, channels: int = 1, streamed: bool = False) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(channels)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(np.repeat(samples, channels).astype("<i2").tobytes())
    data = out.getvalue()
    if streamed:  # a server that streams cannot know the length: 0xFFFFFFFF, and a LIST chunk before the data
        fmt_end = 12 + 8 + 16
        listing = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\0"
        data = data[:4] + b"\xff\xff\xff\xff" + data[8:fmt_end] + listing + data[fmt_end:fmt_end + 4] + b"\xff\xff\xff\xff" + data[fmt_end + 8:]
    return data


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("streamed", [False, True])
def test_wav_answers_are_read_as_they_arrive_whatever_the_pieces(channels, streamed):
    samples = (np.arange(1001) % 200 - 100).astype(np.int16)
    data = wav_file(samples, 22050, channels, streamed)
    for size in (1, 3, 7, 1000):
        wav = WavStream()
        heard = np.concatenate([wav.feed(data[start:start + size]) for start in range(0, len(data), size)])
        assert wav.rate == 22050 and np.array_equal(heard, samples), size


def test_wav_answers_that_are_not_16_bit_pcm_are_refused():
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(1)
        file.setframerate(8000)
        file.writeframes(b"\x80" * 100)
    with pytest.raises(ValueError, match="16-bit"):
        WavStream().feed(out.getvalue())
    with pytest.raises(ValueError, match="Hz"):
        WavStream().feed(wav_file(np.zeros(10, np.int16), 1))  # a sample rate of 1 would resample into millions
    with pytest.raises(ValueError, match="not a WAV"):
        WavStream().feed(b"ID3\x04" + b"\0" * 60)  # an mp3
