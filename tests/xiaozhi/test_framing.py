"""XiaoZhi protocol versions 1-3 and bad input, with a client written from the firmware's websocket_protocol.cc."""

import asyncio
import json
import struct

import numpy as np
import opuslib_next as opus
import pytest
from conftest import fake_engines, fast_settings, silence, tone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hootkit.app import create_app
from hootkit.gateway.xiaozhi import pack, unpack
from hootkit.serving import serve_in_loop
from hootproto import ProtocolError

pytestmark = pytest.mark.timeout(60)

HELLO = {"type": "hello", "version": 1, "features": {"mcp": True}, "transport": "websocket",
         "audio_params": {"format": "opus", "sample_rate": 16000, "channels": 1, "frame_duration": 60}}
QUESTION = np.concatenate([silence(0.3), tone(0.9), silence(1.2)])
FRAME = 960  # 60 ms at 16 kHz


class FirmwareClient:
    """What a XiaoZhi board does on the websocket: headers, hello, listen, Opus frames framed per version."""

    def __init__(self, url: str, version: int, device_id: str = "aa:bb:cc:00:00:10"):
        self.url = url.replace("/v1/device", "/xiaozhi/v1/")
        self.version = version
        self.headers = {"Authorization": "Bearer ", "Protocol-Version": str(version), "Device-Id": device_id,
                        "Client-Id": "6b1d4c1e-0000-4000-8000-000000000010"}
        self.encoder = opus.Encoder(16000, 1, opus.APPLICATION_VOIP)
        self.ws = None

    async def __aenter__(self):
        self.ws = await connect(self.url, additional_headers=self.headers)
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()

    async def hello(self, hello: dict = HELLO) -> dict:
        await self.ws.send(json.dumps(hello))
        return await self.next_text("hello")

    async def next_text(self, kind: str) -> dict:
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), 30)
            if isinstance(frame, str) and json.loads(frame)["type"] == kind:
                return json.loads(frame)

    async def speak(self, samples: np.ndarray) -> None:
        pcm = (samples * 32767).astype(np.int16)
        pcm = np.concatenate([pcm, np.zeros(-len(pcm) % FRAME, np.int16)])
        for start in range(0, len(pcm), FRAME):
            packet = self.encoder.encode(pcm[start:start + FRAME].tobytes(), FRAME)
            await self.ws.send(pack(self.version, packet))

    async def reply(self) -> tuple[list[bytes], list[dict]]:
        """Binary frames and text events until `tts stop`."""
        frames, events = [], []
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), 30)
            if isinstance(frame, bytes):
                frames.append(frame)
                continue
            events.append(json.loads(frame))
            if events[-1] == {**events[-1], "type": "tts", "state": "stop"}:
                return frames, events


def serving(**settings):
    return serve_in_loop(create_app(fast_settings(**settings), fake_engines()))


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_each_protocol_version_carries_opus_both_ways(version):
    async with serving() as url, FirmwareClient(url, version) as device:
        hello = await device.hello()
        assert hello["audio_params"] == {"format": "opus", "sample_rate": 16000, "channels": 1, "frame_duration": 60}
        assert hello["session_id"] and hello["transport"] == "websocket"
        await device.ws.send(json.dumps({"session_id": hello["session_id"], "type": "listen", "state": "start", "mode": "auto"}))
        await device.speak(QUESTION)
        frames, events = await device.reply()
    kinds = [(event["type"], event.get("state")) for event in events]
    assert ("stt", None) in kinds and kinds.index(("tts", "start")) < kinds.index(("tts", "stop"))
    decoder = opus.Decoder(16000, 1)
    for number, frame in enumerate(frames):
        packet = unpack(version, frame)
        if version == 2:
            assert struct.unpack(">HHI", frame[:8]) == (2, 0, 0) and struct.unpack(">I", frame[8:12])[0] == number * 60
        assert len(decoder.decode(packet, FRAME * 2)) == FRAME * 2  # every packet is 60 ms, as announced
    assert len(frames) >= 5


async def test_bad_opus_and_bad_framing_get_a_clear_alert_and_the_session_goes_on():
    async with serving() as url, FirmwareClient(url, 2) as device:
        await device.hello()
        await device.ws.send(b"\x00\x02")  # shorter than a header
        assert (await device.next_text("alert"))["message"] == "binary frame shorter than its 16-byte protocol 2 header"
        await device.ws.send(struct.pack(">HHIII", 2, 0, 0, 0, 99) + b"\xfc\xff")  # says 99 bytes, carries 2
        assert "says 99 payload bytes but carries 2" in (await device.next_text("alert"))["message"]
        await device.ws.send(pack(2, b"\xff\xff\xff"))  # not Opus
        alert = await device.next_text("alert")
        assert alert["code"] == "bad_audio" and "Opus" in alert["message"] and alert["emotion"] == "sad"
        await device.ws.send(json.dumps({"type": "listen", "state": "start", "mode": "auto"}))
        await device.speak(QUESTION)
        _, events = await device.reply()  # still served
    assert any(event["type"] == "stt" for event in events)


async def test_audio_before_hello_and_an_opus_rate_opus_lacks_are_refused_with_reasons():
    async with serving() as url, FirmwareClient(url, 1) as device:
        await device.ws.send(b"\xfc\xff\xfe")
        assert (await device.next_text("alert"))["message"] == "audio before hello"
        bad_rate = {**HELLO, "audio_params": {**HELLO["audio_params"], "sample_rate": 44100}}
        await device.ws.send(json.dumps(bad_rate))
        alert = await device.next_text("alert")
        assert alert["code"] == "unsupported_audio" and "8000, 12000, 16000, 24000, 48000" in alert["message"]


async def test_an_unknown_protocol_version_is_closed_with_the_versions_it_may_use():
    async with serving() as url, FirmwareClient(url, 7) as device:
        with pytest.raises(ConnectionClosed):
            await device.hello()
    assert (device.ws.close_code, device.ws.close_reason) == (4002, "Protocol-Version must be one of 1, 2, 3")


def test_framing_round_trips_and_refuses_lies():
    for version in (1, 2, 3):
        assert unpack(version, pack(version, b"opus", 120)) == b"opus"
    assert unpack(3, struct.pack(">BBH", 1, 0, 3) + b"mcp") is None  # a packet that is not audio
    with pytest.raises(ProtocolError, match="says 5 payload bytes but carries 4"):
        unpack(3, struct.pack(">BBH", 0, 0, 5) + b"opus")
