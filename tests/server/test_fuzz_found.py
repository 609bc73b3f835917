"""Bugs bench/fuzz.py found outside the protocol package, each fixed: a device gone mid-turn, an alert to a connection
uvicorn has closed, replacing a connection whose device is gone, and a text frame that is not UTF-8.

Three of them are races the fuzzing hit a few times in 10,000 sessions; here uvicorn's side of the connection is
scripted (the app is called as ASGI with the messages uvicorn would hand it), so that they happen every time."""

import asyncio
import json
import logging

import pytest
from conftest import fast_settings, fake_engines, tone
from uvicorn.protocols.utils import ClientDisconnected
from websockets.asyncio.client import connect

from hootkit.app import create_app
from hootkit.serving import serve_in_loop

PCM = {"format": "pcm16", "sample_rate": 16000, "channels": 1, "frame_duration": 40}
HELLO = {"type": "hello", "audio_params": PCM}


class ScriptedDevice:
    """uvicorn's side of one device websocket: it hands the app `frames`, and from the first frame the app sends
    after its hello, sending fails with `failure` (what uvicorn raises once the connection is going); the
    disconnect comes only after that failure."""

    def __init__(self, frames: list[dict], failure: Exception, fail_from_start: bool = False):
        self.incoming: asyncio.Queue = asyncio.Queue()
        for message in [{"type": "websocket.connect"}] + frames:
            self.incoming.put_nowait(message)
        self.failure = failure
        self.failing = fail_from_start
        self.failed = asyncio.Event()

    async def receive(self) -> dict:
        return await self.incoming.get()

    async def send(self, message: dict) -> None:
        if message["type"] != "websocket.send":
            return
        if self.failing:
            if not self.failed.is_set():
                self.failed.set()
                self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1006})
            raise self.failure
        if '"hello"' in message.get("text", ""):
            self.failing = True

    async def run(self, app) -> None:
        scope = {"type": "websocket", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
                 "scheme": "ws", "server": ("127.0.0.1", 8765), "client": ("127.0.0.1", 50000), "root_path": "",
                 "path": "/v1/device", "raw_path": b"/v1/device", "query_string": b"",
                 "headers": [(b"device-id", b"scripted")], "subprotocols": [], "state": {}}
        await app(scope, self.receive, self.send)


def text(event: dict) -> dict:
    return {"type": "websocket.receive", "text": json.dumps(event)}


def errors_logged(caplog) -> list[str]:
    return [f"{record.name}: {record.getMessage()}" for record in caplog.records
            if record.levelno >= logging.ERROR and record.name.startswith("hootkit")]


@pytest.mark.timeout(30)
async def test_a_device_gone_mid_turn_ends_the_turn_without_an_error(caplog):
    app = create_app(fast_settings(), fake_engines())
    question = tone(0.6).tobytes()
    device = ScriptedDevice([text(HELLO), text({"type": "listen", "state": "start", "mode": "manual"}),
                             {"type": "websocket.receive", "bytes": question},
                             text({"type": "listen", "state": "stop"})], ClientDisconnected())
    async with serve_in_loop(app):
        await device.run(app)
    assert device.failed.is_set()  # the turn did send to a device that was gone
    assert errors_logged(caplog) == []


@pytest.mark.timeout(30)
async def test_an_alert_to_a_connection_uvicorn_has_closed_is_not_a_crash(caplog):
    app = create_app(fast_settings(), fake_engines())
    closed = RuntimeError("Unexpected ASGI message 'websocket.send', after sending 'websocket.close'.")
    device = ScriptedDevice([{"type": "websocket.receive", "text": "{"}], closed, fail_from_start=True)
    async with serve_in_loop(app):
        await device.run(app)
    assert device.failed.is_set()  # the alert for "{" was sent after uvicorn had closed
    assert errors_logged(caplog) == []


class VanishedDevice(ScriptedDevice):
    """A device that said hello and then vanished, before uvicorn handed the app its disconnect: every send and
    close fails as uvicorn's do for a peer that is gone, and nothing more is received."""

    def __init__(self):
        super().__init__([text(HELLO)], ClientDisconnected())
        self.said_hello = asyncio.Event()

    async def send(self, message: dict) -> None:
        if self.said_hello.is_set():
            self.failed.set()
            raise self.failure
        if '"hello"' in message.get("text", ""):
            self.said_hello.set()


@pytest.mark.timeout(30)
async def test_replacing_a_connection_whose_device_is_gone_ends_it_quietly():
    app = create_app(fast_settings(), fake_engines())
    gone = VanishedDevice()
    async with serve_in_loop(app) as url:
        first = asyncio.create_task(gone.run(app))
        await gone.said_hello.wait()
        async with connect(url, additional_headers={"Device-Id": "scripted"}) as again:  # the same device id
            await again.send(json.dumps(HELLO))
            assert json.loads(await again.recv())["type"] == "hello"
            ended = await asyncio.gather(first, return_exceptions=True)
    assert gone.failed.is_set()  # the server did close the replaced connection
    assert ended == [None]


@pytest.mark.timeout(30)
async def test_a_text_frame_that_is_not_utf8_is_closed_with_a_reason(serve):
    async with serve() as url, connect(url) as ws:
        await ws.send(json.dumps(HELLO))
        await ws.recv()
        await ws.send(b'{"type": "abort", "reason": "\xff"}', text=True)
        await ws.wait_closed()
    assert ws.close_code == 1007
    assert ws.close_reason
