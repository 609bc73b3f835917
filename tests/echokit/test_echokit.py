"""EchoKit boxes: a test client written from echokit_box's code (src/ws.rs, src/protocol.rs) speaks PCM and gets
EndVad, ASR and Opus audio as MessagePack events; rmp_serde's encoding checked byte for byte."""

import asyncio
import io
import json
import wave

import msgpack
import numpy as np
import opuslib_next as opus
import pytest
from conftest import fake_engines, fast_settings, silence, tone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hootkit.app import create_app
from hootkit.gateway.echokit import GREETING, HELLO_CHUNK, event, greeting_wav
from hootkit.pipeline.fixed_words import pin_later
from hootkit.serving import serve_in_loop

pytestmark = pytest.mark.timeout(60)

QUESTION = np.concatenate([silence(0.3), tone(0.9), silence(1.5)])
CHUNK = 16000 * 512 // 1000  # the box sends 512 ms of PCM at a time

# rmp_serde::to_vec of echokit_box's ServerEvent, from its documented format: a unit variant is its name as a
# msgpack str, a struct variant a one-entry map {name: [fields]}, a Vec<u8> an array of the smallest uints
RMP_SERDE_BYTES = [
    (event("EndResponse"), bytes([0xAB]) + b"EndResponse"),
    (event("EndVad"), bytes([0xA6]) + b"EndVad"),
    (event("ASR", "hi"), bytes([0x81, 0xA3]) + b"ASR" + bytes([0x91, 0xA2]) + b"hi"),
    (event("StartAudio", "A spider."), bytes([0x81, 0xAA]) + b"StartAudio" + bytes([0x91, 0xA9]) + b"A spider."),
    (event("AudioChunk", [1, 127, 128, 255]), bytes([0x81, 0xAA]) + b"AudioChunk"
     + bytes([0x91, 0x94, 0x01, 0x7F, 0xCC, 0x80, 0xCC, 0xFF])),
]


@pytest.mark.parametrize("encoded, expected", RMP_SERDE_BYTES)
def test_events_are_encoded_as_rmp_serde_writes_them(encoded, expected):
    assert encoded == expected


class EchoKitBox:
    """What echokit_box does on its websocket: JSON commands and raw PCM up, MessagePack events down."""

    def __init__(self, url: str, device_id: str = "aabbccddeeff", token: str | None = None):
        base = url.split("/v1/")[0]
        prefix = f"/ws/k/{token}" if token else "/ws"
        self.url = f"{base}{prefix}/{device_id}?opus=true&vowel=true"
        self.decoder = opus.Decoder(16000, 1)
        self.hello: list = []

    async def __aenter__(self):
        self.ws = await connect(self.url, additional_headers={"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"})
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()

    async def chat(self, samples: np.ndarray) -> list:
        """StartChat, the PCM in 512 ms chunks, then the events up to EndResponse (audio decoded to sample counts)."""
        await self.ws.send(json.dumps({"event": "StartChat"}))
        pcm = (samples * 32767).astype(np.int16).tobytes()
        for start in range(0, len(pcm), CHUNK * 2):
            await self.ws.send(pcm[start:start + CHUNK * 2])
        got = []
        while not got or got[-1] != "EndResponse":
            frame = await asyncio.wait_for(self.ws.recv(), 30)
            assert isinstance(frame, bytes), "the box reads binary MessagePack only"
            item = msgpack.unpackb(frame)
            if item in ("HelloStart", "HelloEnd") or isinstance(item, dict) and "HelloChunk" in item:
                self.hello.append(item)  # the greeting, sent once after connecting (test_a_box_is_sent_the_greeting...)
                continue
            if isinstance(item, dict) and "AudioChunk" in item:
                (data,) = item["AudioChunk"]
                assert isinstance(data, list)  # bytes as an array of ints, as rmp_serde reads Vec<u8>
                item = ("audio", len(self.decoder.decode(bytes(data), 16000 * 12 // 100)) // 2)
            got.append(item)
        return got


def serving(**settings):
    return serve_in_loop(create_app(fast_settings(**settings), fake_engines()))


async def test_a_box_speaks_and_gets_endvad_asr_and_opus_audio():
    async with serving() as url, EchoKitBox(url) as box:
        events = await box.chat(QUESTION)
        again = await box.chat(QUESTION)  # the next utterance starts with StartChat again
    names = [e if isinstance(e, str) else next(iter(e)) if isinstance(e, dict) else e[0] for e in events]
    assert names[:2] == ["EndVad", "ASR"] and events[1] == {"ASR": ["how many legs does a spider have"]}
    assert names.index("StartAudio") < names.index("audio") < names.index("EndAudio") < names.index("EndResponse")
    assert all(samples == 960 for kind, samples in (e for e in events if isinstance(e, tuple)))  # 60 ms packets
    assert again[-1] == "EndResponse" and any(isinstance(e, tuple) for e in again)


def wav_of(frames: list[bytes]) -> tuple[wave.Wave_read, np.ndarray]:
    reader = wave.open(io.BytesIO(b"".join(frames)))
    return reader, np.frombuffer(reader.readframes(reader.getnframes()), "<i2")


async def test_a_box_is_sent_the_greeting_wav_first_and_is_served_after_it():
    engines = fake_engines()
    async with serve_in_loop(create_app(fast_settings(), engines)) as url:
        async with EchoKitBox(url, "aabbccddee01") as early:  # the first box after a start keeps its own greeting
            assert (await early.chat(QUESTION))[-1] == "EndResponse"
            assert not early.hello
        await pin_later(engines.tts, GREETING)  # said once by then, in the background
        async with EchoKitBox(url) as box:
            first, chunks, events = await greeted(box)
    assert first == "HelloStart"
    reader, samples = wav_of(chunks)
    assert (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) == (16000, 1, 2)
    assert len(samples) > 0.3 * 16000 and np.abs(samples).max() > 1000  # the fake voice's tones, not silence
    assert events[-1] == "EndResponse"


async def greeted(box) -> tuple[object, list[bytes], list]:
    """The first event, the greeting's chunks up to HelloEnd, then a chat's events."""
    first = msgpack.unpackb(await asyncio.wait_for(box.ws.recv(), 10))
    chunks = []
    while (item := msgpack.unpackb(await asyncio.wait_for(box.ws.recv(), 10))) != "HelloEnd":
        (data,) = item["HelloChunk"]
        assert isinstance(data, list) and len(data) <= HELLO_CHUNK  # bytes as an array of ints, in small chunks
        chunks.append(bytes(data))
    return first, chunks, await box.chat(QUESTION)


@pytest.mark.models
async def test_the_greeting_says_it_is_an_ai_helper(real_engines):
    _, samples = wav_of([await greeting_wav(real_engines.tts)])
    heard = real_engines.stt.transcribe_now(samples.astype(np.float32) / 32768).text.lower()
    assert "hootkit" in heard.replace(" ", "") or "helper" in heard, heard


async def test_a_reconnect_of_the_same_box_replaces_its_old_connection():
    app = create_app(fast_settings(), fake_engines())
    async with serve_in_loop(app) as url:
        first = await EchoKitBox(url).__aenter__()
        await first.chat(QUESTION)  # answered: its session is registered
        async with EchoKitBox(url) as again:  # barge-in: the box reconnects instead of cancelling
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(first.ws.recv(), 10)
            assert first.ws.close_code == 4006
            events = await again.chat(QUESTION)
    assert events[-1] == "EndResponse"


async def test_a_box_that_would_need_pairing_is_told_to_use_a_token_and_a_token_in_the_url_admits_it():
    async with serving(pairing="all", device_tokens=[]) as url:
        async with EchoKitBox(url) as box:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(box.ws.recv(), 10)
        assert box.ws.close_code == 4001 and "/ws/k/TOKEN" in box.ws.close_reason
    async with serving(device_tokens=["class-4b-secret"]) as url, EchoKitBox(url, token="class-4b-secret") as box:
        assert (await box.chat(QUESTION))[-1] == "EndResponse"


async def test_garbage_commands_get_no_crash_and_the_box_is_still_served():
    async with serving() as url, EchoKitBox(url) as box:
        for garbage in ("not json", json.dumps({"event": "Dance"}), json.dumps([1, 2])):
            await box.ws.send(garbage)
        await box.ws.send(b"\x01")  # an odd number of PCM bytes
        events = await box.chat(QUESTION)
    assert events[-1] == "EndResponse"
