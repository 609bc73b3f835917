"""Fuzzes the device protocol: random and mutated frames through the codec and both state machines, then
malformed sessions against a real server (fake engines; real uvicorn and websockets with `hoot serve`'s limits).

Frames (in-process): each frame is random or a mutation of a valid one (a field dropped, retyped or swollen, an
unknown type, deep nesting, characters flipped or cut, lone surrogates, odd Python types) and goes to a
ServerConnection and a DeviceConnection, each in any state. A crash is an exception other than ProtocolError, a
ProtocolError without a known code or a message, or a refused frame that changed the connection's state.

Sessions: each is one kind of misbehaviour (bad hello, floods, truncated frames, wrong types, huge or deeply nested
JSON, binary before hello, unknown types, invalid UTF-8, oversized frames, broken websocket framing, odd headers, a
replaced connection, a device that vanishes), `--concurrency` at a time, then a probe frame of an unknown type: the
server must answer it with an alert or have closed the session within `--limit-s`, else the session hung. A crash is
close 1011, an HTTP 500, an error logged by Hootkit or an exception escaping to uvicorn, a device the server no longer
answers (a healthy device keeps asking questions all along), or connections left open at the end. A refusal without
a reason is a close from the server with an empty reason, or an alert without a code or a message.

The server's connection caps (max_sessions, max_sessions_per_address, max_pending_pairings_per_address) are raised to
1,000,000 here, since every session comes from 127.0.0.1, and hello_timeout_s is 1 s so that sessions stalled before
`hello` end quickly. Prints a table and writes JSON (bench/results/fuzz.json; --quick, a small run, writes
fuzz-quick.json).
"""

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import fake_engines, silence, tone  # noqa: E402
from table import print_table  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

from hootkit.app import create_app  # noqa: E402
from hootkit.client.device import DeviceClient  # noqa: E402
from hootkit.serving import serve_in_loop, ws_max_size  # noqa: E402
from hootkit.settings import Settings  # noqa: E402
from hootproto import DeviceConnection, LocalProtocolError, ProtocolError, ServerConnection, codec  # noqa: E402
from hootproto.events import Audio, Event  # noqa: E402

CODES = {"bad_frame", "bad_audio", "too_large", "bad_json", "bad_event", "unknown_type", "out_of_order"}
PCM = {"format": "pcm16", "sample_rate": 16000, "channels": 1, "frame_duration": 40}
HELLO = {"type": "hello", "version": 1, "transport": "websocket", "audio_params": PCM}
DEVICE_EVENTS = [
    HELLO,
    {"type": "listen", "state": "start", "mode": "auto"},
    {"type": "listen", "state": "start", "mode": "manual"},
    {"type": "listen", "state": "start", "mode": "realtime"},
    {"type": "listen", "state": "stop"},
    {"type": "listen", "state": "detect", "text": "hey hoot"},
    {"type": "abort", "reason": "button"},
]
SERVER_EVENTS = [
    {"type": "hello", "audio_params": PCM, "session_id": "s1", "features": {"metrics": True}},
    {"type": "stt", "text": "how many legs"},
    {"type": "llm", "emotion": "happy"},
    {"type": "tts", "state": "start", "turn": 1},
    {"type": "tts", "state": "sentence_start", "text": "Eight!", "turn": 1},
    {"type": "tts", "state": "stop", "turn": 1},
    {"type": "alert", "status": "error", "message": "nope", "code": "bad_json"},
    {"type": "system", "command": "pause"},
    {"type": "lesson", "state": "step", "step": 1, "steps": 3, "correct": True},
    {"type": "pair", "state": "code", "code": "042917"},
    {"type": "metrics", "turn": 1, "parts": {"stt": 301.5}},
]
VALID_EVENTS = DEVICE_EVENTS + SERVER_EVENTS
ODD_STRINGS = ["", " ", "\x00", "\ud800", "\udfff", "\u202e", "é", "猫", "🦉", "\\", '"', "NaN", "null", "type"]
PROBE = json.dumps({"type": "fuzz-probe"})
MAX_TEXT = codec.MAX_TEXT_BYTES
WS_LIMIT = ws_max_size(Settings(warmup=False))  # the largest message uvicorn reads (`hoot serve`'s config)

# -- frames ---------------------------------------------------------------------------------------------------------


def random_string(rng: random.Random, longest: int = 12) -> str:
    if rng.random() < 0.3:
        return rng.choice(ODD_STRINGS)
    return "".join(chr(rng.choice((rng.randrange(32, 127), rng.randrange(0x80, 0x3000), rng.randrange(0xD800, 0xE000),
                                   rng.randrange(0x1F000, 0x1F700), rng.randrange(0, 32))))
                   for _ in range(rng.randrange(longest + 1)))


def random_value(rng: random.Random, depth: int = 0):
    """Any JSON-ready value, of any type: what a field should never hold, or sometimes by chance should."""
    pick = rng.randrange(12 if depth < 3 else 9)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice((True, False))
    if pick == 2:
        return rng.choice((0, 1, -1, 16000, 2**31, -(2**63), 10**30, rng.randrange(-100, 100000)))
    if pick == 3:
        return rng.choice((0.0, -0.0, 1.5, 1e308, float("nan"), float("inf"), rng.uniform(-1e6, 1e6)))
    if pick in (4, 5, 6, 7):
        return random_string(rng)
    if pick == 8:
        return rng.choice(("pcm16", "opus", "start", "stop", "auto", "websocket", "hello", "listen"))
    if pick in (9, 10):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {random_string(rng, 6): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def nested(rng: random.Random, depth: int) -> str:
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def mutate_event(rng: random.Random, event: dict) -> dict | list | str:
    """A valid event with one thing wrong (or, by chance, still right)."""
    event = json.loads(json.dumps(event))
    fields = [name for name in event if name != "type"]
    pick = rng.randrange(10)
    if pick == 0 and fields:
        del event[rng.choice(fields)]
    elif pick in (1, 2) and fields:
        event[rng.choice(fields)] = random_value(rng)
    elif pick == 3:
        event[random_string(rng, 8)] = random_value(rng)
    elif pick == 4:
        event["type"] = rng.choice((random_string(rng), random_value(rng)))
    elif pick == 5 and "audio_params" in event:
        params = event["audio_params"]
        params[rng.choice(list(params) + ["extra"])] = random_value(rng)
    elif pick == 6:
        field = rng.choice(fields or ["type"])
        size = rng.choice((MAX_TEXT // 4, MAX_TEXT - 40, MAX_TEXT, MAX_TEXT + 1, 2 * MAX_TEXT, 70000))
        event[field] = rng.choice(("x", "é", "猫", "🦉")) * rng.randrange(1, size)
    elif pick == 7:
        return [event] if rng.random() < 0.5 else rng.choice((None, 1, "hello", []))
    elif pick == 8:
        event[rng.choice(fields or ["type"])] = json.loads(nested(rng, rng.randrange(2, 200)))
    else:
        event.pop("type", None)
    return event


def mutate_text(rng: random.Random, text: str) -> str:
    """Characters of a frame flipped, cut, doubled or broken."""
    chars = list(text)
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(chars) + 1)
        pick = rng.randrange(5)
        if pick == 0:
            del chars[at:at + rng.randrange(1, 8)]
        elif pick == 1:
            chars[at:at] = list(random_string(rng, 4) or "}")
        elif pick == 2 and chars:
            chars[min(at, len(chars) - 1)] = rng.choice('{}[]",:\\0 \ud800')
        elif pick == 3:
            chars = chars[:at]
        else:
            chars[at:at] = chars[at:at + rng.randrange(1, 20)]
    return "".join(chars)


def random_frame(rng: random.Random):
    """One frame: mostly a mutated valid event, else random text, binary, deep nesting or a wrong Python type."""
    pick = rng.randrange(100)
    if pick < 12:
        return json.dumps(rng.choice(VALID_EVENTS))
    if pick < 45:
        return json.dumps(mutate_event(rng, rng.choice(VALID_EVENTS)), ensure_ascii=rng.random() < 0.5)
    if pick < 65:
        return mutate_text(rng, json.dumps(rng.choice(VALID_EVENTS), ensure_ascii=rng.random() < 0.5))
    if pick < 72:
        return random_string(rng, 40)
    if pick < 75:
        return json.dumps(random_value(rng))
    if pick < 78:
        return nested(rng, rng.choice((10, 500, 999, 1000, 3000, MAX_TEXT // 2 - 2)))
    if pick < 95:
        data = rng.randbytes(rng.choice((0, 1, 2, 3, 640, rng.randrange(4000))))
        return rng.choice((bytes, bytearray, memoryview))(data)
    return rng.choice((None, 7, 1.5, [], {}, ("a",), object()))


def state_of(conn) -> tuple:
    return tuple(getattr(conn, name, None) for name in (
        "ready", "listening", "mode", "speaking", "turn", "hello_sent", "device_hello", "server_hello", "discarding"))


def fresh_server(rng: random.Random) -> ServerConnection:
    """A ServerConnection in any state: waiting for hello, idle, listening or speaking."""
    server = ServerConnection()
    if rng.random() < 0.8:
        server.receive(json.dumps(HELLO))
        server.send(codec.decode(json.dumps(SERVER_EVENTS[0])))
        if rng.random() < 0.5:
            server.receive('{"type": "listen", "state": "start", "mode": "auto"}')
        if rng.random() < 0.3:
            server.send(codec.decode('{"type": "tts", "state": "start", "turn": 1}'))
    return server


def fresh_device(rng: random.Random) -> DeviceConnection:
    """A DeviceConnection in any state: before or after its hello, ready, speaking, or discarding after an abort."""
    device = DeviceConnection()
    if rng.random() < 0.9:
        device.send(codec.decode(json.dumps(HELLO)))
        if rng.random() < 0.8:
            device.receive(json.dumps(SERVER_EVENTS[0]))
            if rng.random() < 0.5:
                device.receive('{"type": "tts", "state": "start", "turn": 1}')
            if rng.random() < 0.3:
                device.send(codec.decode('{"type": "abort"}'))
    return device


class FrameStats:
    """What the in-process part saw."""

    def __init__(self):
        self.frames = 0
        self.accepted = 0
        self.refused = Counter()
        self.crashes = 0
        self.reasonless = 0
        self.examples: list[str] = []
        self.slowest_ms = 0.0

    def crash(self, what: str, frame) -> None:
        self.crashes += 1
        if len(self.examples) < 10:
            self.examples.append(f"{what} on {frame!r:.200}")


def feed(conn, frame, stats: FrameStats) -> list:
    """`frame` into `conn`: either events, or a ProtocolError with a known code that left the state as it was."""
    before = state_of(conn)
    try:
        events = conn.receive(frame)
    except ProtocolError as error:
        if error.code not in CODES or not error.message:
            stats.reasonless += 1
            stats.crash(f"ProtocolError without a known code or message ({error.code!r}, {error.message!r})", frame)
        if state_of(conn) != before:
            stats.crash(f"state changed by a refused frame ({error.code})", frame)
        stats.refused[error.code] += 1
        return []
    except Exception as error:
        stats.crash(f"{type(error).__name__}: {error!s:.100}", frame)
        return []
    stats.accepted += 1
    if isinstance(frame, str) and len(frame.encode("utf-8", "surrogatepass")) > MAX_TEXT:
        stats.crash("text frame over the size limit accepted", frame)
    for event in events:
        if not isinstance(event, (Event, Audio)):
            stats.crash(f"receive returned {event!r:.60}", frame)
        elif isinstance(event, Event) and not survives_round_trip(event):
            stats.crash("event does not survive encode/decode", frame)
    return events


def survives_round_trip(event: Event) -> bool:
    """Encoded, decoded and encoded again, an event is the same frame (encoding may outgrow the size limit:
    non-ASCII text is escaped)."""
    frame = codec.encode(event)
    try:
        return codec.encode(codec.decode(frame)) == frame
    except ProtocolError as error:
        return error.code == "too_large"


def send_back(conn, event, stats: FrameStats) -> None:
    """Sending any event is allowed, or refused with LocalProtocolError; nothing else."""
    try:
        conn.send(event)
    except LocalProtocolError:
        pass
    except Exception as error:
        stats.crash(f"send raised {type(error).__name__}: {error!s:.100}", event)


def fuzz_frames(count: int, seed: int) -> dict:
    rng = random.Random(seed)
    stats = FrameStats()
    server, device, left = fresh_server(rng), fresh_device(rng), 0
    started = time.perf_counter()
    while stats.frames < count:
        if left <= 0:
            server, device, left = fresh_server(rng), fresh_device(rng), rng.randrange(1, 60)
        left -= 1
        frame = random_frame(rng)
        began = time.perf_counter()
        for conn in (server, device):
            for event in feed(conn, frame, stats):
                send_back(rng.choice((server, device)), event, stats)
        stats.slowest_ms = max(stats.slowest_ms, (time.perf_counter() - began) * 1000)
        stats.frames += 1
    took = time.perf_counter() - started
    return {"frames": stats.frames, "receives": 2 * stats.frames, "accepted": stats.accepted,
            "refused": dict(stats.refused.most_common()), "crashes": stats.crashes,
            "refusals_without_reason": stats.reasonless, "crash_examples": stats.examples,
            "slowest_frame_ms": round(stats.slowest_ms, 1), "took_s": round(took, 1),
            "frames_per_s": round(stats.frames / took)}


# -- sessions -------------------------------------------------------------------------------------------------------


class WatchedConnection(ClientConnection):
    """A client connection that notices the server's close frame at once (recv() also waits for TCP to close,
    which a server whose frame parser was left mid-frame does only after its close timeout)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.close_frame = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.protocol.close_rcvd is not None:
            self.close_frame.set()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.close_frame.set()


def raw_frame(rng: random.Random, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0,
              masked: bool = True) -> bytes:
    """A client websocket frame built by hand, so that it can break the framing rules."""
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    size = len(payload)
    mask_bit = 0x80 if masked else 0
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 65536:
        head += bytes([mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + size.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = rng.randbytes(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Session:
    """One fuzzing session's connection: sends what the kind of misbehaviour says, records what comes back."""

    def __init__(self, ws: WatchedConnection, rng: random.Random, url: str, headers: dict):
        self.ws = ws
        self.rng = rng
        self.url = url
        self.headers = headers
        self.alerts: list[dict] = []
        self.probe_answered = asyncio.Event()
        self.server_hello = asyncio.Event()
        self.vanished = False  # the client dropped the TCP connection itself
        self.largest_sent = 0
        self.probe = True  # a session whose server-side frame parser is left mid-frame cannot be probed
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                if isinstance(frame, str):
                    event = json.loads(frame)
                    if event.get("type") == "alert":
                        self.alerts.append(event)
                        if event.get("code") == "unknown_type" and "fuzz-probe" in event.get("message", ""):
                            self.probe_answered.set()
                    elif event.get("type") == "hello":
                        self.server_hello.set()
        except ConnectionClosed:
            pass

    async def send(self, frame, text: bool | None = None) -> None:
        self.largest_sent = max(self.largest_sent, len(frame.encode() if isinstance(frame, str) else frame))
        await self.ws.send(frame, text=text)

    async def hello(self) -> None:
        """Say hello and wait for the server's (or its close)."""
        await self.send(json.dumps(HELLO))
        await first_of(self.server_hello, self.ws.close_frame)

    def raw(self, data: bytes) -> None:
        self.ws.transport.write(data)

    def vanish(self) -> None:
        self.vanished = True
        self.ws.transport.abort()


async def first_of(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def bad_hello(s: Session) -> None:
    await s.send(json.dumps(mutate_event(s.rng, HELLO)))


async def binary_before_hello(s: Session) -> None:
    await s.send(s.rng.randbytes(s.rng.randrange(1, 4000)))
    if s.rng.random() < 0.5:
        await s.hello()


async def unknown_types(s: Session) -> None:
    if s.rng.random() < 0.7:
        await s.hello()
    for _ in range(s.rng.randrange(1, 5)):
        await s.send(json.dumps({"type": random_string(s.rng)}))


async def wrong_field_types(s: Session) -> None:
    await s.hello()
    for _ in range(s.rng.randrange(1, 8)):
        text = json.dumps(mutate_event(s.rng, s.rng.choice(VALID_EVENTS)), ensure_ascii=False)
        await s.send(text if sendable(text) else json.dumps(json.loads(text)))


async def wrong_json_types(s: Session) -> None:
    if s.rng.random() < 0.5:
        await s.hello()
    await s.send(json.dumps(s.rng.choice(([], [HELLO], 1, -0.5, "hello", None, True, random_value(s.rng)))))


async def huge_json(s: Session) -> None:
    if s.rng.random() < 0.7:
        await s.hello()
    size = s.rng.choice((MAX_TEXT - 30, MAX_TEXT + 1, 3 * MAX_TEXT, 64 * 1024 + 10, WS_LIMIT - 40, WS_LIMIT + 100,
                         10**6))
    char = s.rng.choice(("x", "é", "猫", "🦉"))
    text = json.dumps({"type": "abort", "reason": char * max(1, size // len(char.encode()))}, ensure_ascii=False)
    await s.send(text)


async def deep_json(s: Session) -> None:
    if s.rng.random() < 0.5:
        await s.hello()
    depth = s.rng.choice((100, 999, 1000, 2000, MAX_TEXT // 2 - 20))
    inner = nested(s.rng, depth)
    await s.send(s.rng.choice((inner, '{"type": "hello", "audio_params": %s}' % inner,
                               '{"type": "listen", "state": "start", "text": %s}' % inner)))


async def invalid_utf8(s: Session) -> None:
    if s.rng.random() < 0.5:
        await s.hello()
    junk = s.rng.choice((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", s.rng.randbytes(16)))
    await s.send(b'{"type": "abort", "reason": "' + junk + b'"}', text=True)


async def oversized(s: Session) -> None:
    if s.rng.random() < 0.7:
        await s.hello()
    await s.send(bytes(s.rng.choice((64 * 1024 + 2, WS_LIMIT - 1, WS_LIMIT + 1, 10 * WS_LIMIT))))


async def flood(s: Session) -> None:
    await s.hello()
    good = [json.dumps(event) for event in DEVICE_EVENTS[1:]] + [tone(0.04).tobytes()] * 4
    bad = ["{", '{"type": "x"}', b"\x01", '{"type": "listen"}']
    share_bad = s.rng.choice((0.0, 0.01, 0.5))
    for _ in range(s.rng.randrange(50, 800)):
        await s.send(s.rng.choice(bad if s.rng.random() < share_bad else good))


async def mutated_stream(s: Session) -> None:
    if s.rng.random() < 0.85:
        await s.hello()
    for _ in range(s.rng.randrange(3, 40)):
        pick = s.rng.random()
        if pick < 0.2:
            await s.send(json.dumps({"type": "listen", "state": s.rng.choice(("start", "stop")),
                                     "mode": s.rng.choice(("auto", "manual", "realtime"))}))
        elif pick < 0.5:
            await s.send(np.concatenate([silence(0.05), tone(0.3)]).tobytes()[:s.rng.randrange(1, 12000)])
        else:
            frame = random_frame(s.rng)
            if isinstance(frame, (bytes, bytearray, memoryview)) or (isinstance(frame, str) and sendable(frame)):
                await s.send(frame)


def sendable(text: str) -> bool:
    """Whether a websocket can carry `text` (lone surrogates have no UTF-8 form)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


async def truncated(s: Session) -> None:
    after_hello = s.rng.random() < 0.5
    if after_hello:
        await s.hello()
    whole = raw_frame(s.rng, s.rng.choice((1, 2)), json.dumps(HELLO).encode())
    s.raw(whole[:s.rng.randrange(1, len(whole))])
    s.probe = False
    if after_hello or s.rng.random() < 0.5:  # nothing more will come from the server: the device goes away
        await asyncio.sleep(0)
        s.vanish()


async def broken_framing(s: Session) -> None:
    if s.rng.random() < 0.5:
        await s.hello()
    rng = s.rng
    s.raw(rng.choice((
        raw_frame(rng, 1, b'{"type": "abort"}', rsv=rng.choice((2, 4, 6))),
        raw_frame(rng, rng.choice((3, 4, 5, 6, 7, 11, 15)), b"abc"),
        raw_frame(rng, 1, b'{"type": "abort"}', masked=False),
        raw_frame(rng, 9, b"p" * 126),
        raw_frame(rng, 9, b"ping", fin=False),
        raw_frame(rng, 0, b"lonely continuation"),
        raw_frame(rng, 8, b"\x03"),
        raw_frame(rng, 8, (999).to_bytes(2, "big")),
        raw_frame(rng, 8, (1000).to_bytes(2, "big") + b"\xff\xfe"),
        raw_frame(rng, 1, b'{"type":', fin=False) + raw_frame(rng, 2, b"nope"),
    )))
    s.probe = False


async def odd_headers(s: Session) -> None:
    await s.hello()
    await s.send(json.dumps({"type": "listen", "state": "start", "mode": "auto"}))


async def replaced(s: Session) -> None:
    """The same device connects again: the first connection is closed (4006)."""
    await s.hello()
    async with connect(s.url, additional_headers=s.headers, ping_interval=None, close_timeout=1) as twin:
        await twin.send(json.dumps(HELLO))
        await s.ws.close_frame.wait()


async def vanish_mid_stream(s: Session) -> None:
    await s.hello()
    await s.send(json.dumps({"type": "listen", "state": "start", "mode": s.rng.choice(("auto", "realtime"))}))
    for _ in range(s.rng.randrange(0, 30)):
        await s.send(tone(0.04).tobytes())
    s.vanish()


async def silent(s: Session) -> None:
    """Says nothing at all: the hello timeout closes it."""
    s.probe = False


KINDS = {
    "bad_hello": bad_hello, "binary_before_hello": binary_before_hello, "unknown_types": unknown_types,
    "wrong_field_types": wrong_field_types, "wrong_json_types": wrong_json_types, "huge_json": huge_json,
    "deep_json": deep_json, "invalid_utf8": invalid_utf8, "oversized": oversized, "flood": flood,
    "mutated_stream": mutated_stream, "truncated": truncated, "broken_framing": broken_framing,
    "odd_headers": odd_headers, "replaced": replaced, "vanish_mid_stream": vanish_mid_stream, "silent": silent,
}


def odd_url_and_headers(url: str, rng: random.Random, number: int) -> tuple[str, dict]:
    """A device id and token by header or query, maybe too long, odd, or a stranger's (which means pairing)."""
    device = rng.choice((f"fuzz-{number}", "x" * rng.choice((100, 101, 5000)), random_string(rng, 30), ""))
    token = rng.choice((None, "", random_string(rng, 40), "t" * 3000))
    headers = {}
    if rng.random() < 0.5:
        url += "?device_id=" + quote(device.encode("utf-8", "surrogatepass"))
        if token is not None:
            url += "&token=" + quote(token.encode("utf-8", "surrogatepass"))
    else:
        printable = "".join(c for c in device if " " <= c <= "~") or f"fuzz-{number}"
        headers["Device-Id"] = printable
        if token is not None:
            headers["Authorization"] = "Bearer " + "".join(c for c in token if " " <= c <= "~")
    return url, headers


class SessionStats:
    """What the sessions saw, added up."""

    def __init__(self):
        self.sessions = 0
        self.kinds = Counter()
        self.endings = Counter()  # answered the probe, closed by the server, ended by the client
        self.closes = Counter()  # "code reason", digits as N
        self.alert_codes = Counter()
        self.crashes = 0
        self.hangs = 0
        self.reasonless = 0
        self.problems = Counter()  # "problem in kind of session"
        self.examples: list[str] = []

    def note(self, problem: str, kind: str, detail: str) -> None:
        self.problems[f"{problem} in {kind}"] += 1
        if self.problems[f"{problem} in {kind}"] <= 2:
            self.examples.append(f"{problem} in {kind}: {detail:.200}")


async def run_session(url: str, kind: str, rng: random.Random, number: int, stats: SessionStats,
                      limit_s: float) -> None:
    headers = {"Device-Id": f"fuzz-{number}"}
    if kind == "odd_headers":
        url, headers = odd_url_and_headers(url, rng, number)
    elif kind == "replaced":
        headers = {"Device-Id": f"twin-{number % 7}"}
    stats.sessions += 1
    stats.kinds[kind] += 1
    try:
        ws = await asyncio.wait_for(connect(url, additional_headers=headers, create_connection=WatchedConnection,
                                            ping_interval=None, close_timeout=1, max_size=2**22), limit_s)
    except InvalidStatus as refused:
        status = refused.response.status_code
        stats.closes[f"HTTP {status}"] += 1
        if status >= 500:
            stats.crashes += 1
            stats.note("HTTP 500", kind, url)
        stats.endings["refused by HTTP"] += 1
        return
    except (OSError, TimeoutError) as error:
        stats.crashes += 1
        stats.note("cannot connect", kind, repr(error))
        return
    session = Session(ws, rng, url, headers)
    try:
        try:
            await asyncio.wait_for(KINDS[kind](session), limit_s)
            if session.probe and not session.vanished and not ws.close_frame.is_set():
                await ws.send(PROBE)
        except ConnectionClosed:
            pass  # the server closed it meanwhile: judged below
        except TimeoutError:
            pass  # judged below: neither the probe nor a close
        if not session.vanished:
            try:
                await asyncio.wait_for(first_of(session.probe_answered, ws.close_frame), limit_s)
            except TimeoutError:
                stats.hangs += 1
                stats.note("hang", kind, f"alerts {[a.get('code') for a in session.alerts]}")
        judge(session, kind, stats)
    finally:
        if not session.vanished:
            try:
                await asyncio.wait_for(ws.close(), limit_s)
            except TimeoutError:
                ws.transport.abort()
        else:
            ws.transport.abort()
        await asyncio.gather(session.reader, return_exceptions=True)


def judge(session: Session, kind: str, stats: SessionStats) -> None:
    for alert in session.alerts:
        stats.alert_codes[alert.get("code")] += 1
        if not alert.get("code") or not alert.get("message"):
            stats.reasonless += 1
            stats.note("alert without a reason", kind, repr(alert))
    closed = session.ws.protocol.close_rcvd
    if session.vanished:
        stats.endings["client vanished"] += 1
    elif session.probe_answered.is_set():
        stats.endings["answered the probe"] += 1
    elif closed is not None:
        stats.endings["closed by the server"] += 1
        stats.closes[f"{closed.code} {re.sub(r'[0-9]+', 'N', closed.reason)[:70]}".strip()] += 1
        if closed.code == 1011:
            stats.crashes += 1
            stats.note("close 1011", kind, closed.reason)
        if not closed.reason:
            stats.reasonless += 1
            stats.note(f"close {closed.code} without a reason", kind, repr(session.alerts[-1:]))
    elif session.ws.close_frame.is_set():
        # after a frame over uvicorn's limit the server closes (1009) while the rest of that frame still arrives:
        # its TCP reset can discard the close frame before the client reads it
        cause = " after an over-limit frame" if session.largest_sent > WS_LIMIT else ""
        stats.endings[f"dropped without a close frame{cause}"] += 1
        stats.reasonless += 1
        sent = session.ws.protocol.close_sent
        stats.note(f"connection dropped without a close frame{cause}", kind,
                   f"client sent close {sent.code if sent else None}, largest frame {session.largest_sent} bytes")


class ErrorLog(logging.Handler):
    """Counts what the server logs at ERROR: each is a crash, except uvicorn's own line for a text frame that is
    not UTF-8 (a known refusal without a reason: tests/server/test_fuzz_found.py)."""

    KNOWN = ("Invalid UTF-8 sequence received from client.",)

    def __init__(self):
        super().__init__(logging.ERROR)
        self.crashes = Counter()
        self.known = Counter()
        self.tracebacks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().splitlines()[0][:120] if record.getMessage() else ""
        line = f"{record.name}: {re.sub(r'[0-9a-f]{12}', 'ID', message)}"
        if record.getMessage() in self.KNOWN:
            self.known[line] += 1
        else:
            self.crashes[line] += 1
            if len(self.tracebacks) < 5:
                self.tracebacks.append(logging.Formatter().format(record))


class Canary:
    """A healthy device that keeps asking questions while the fuzzing goes on: each must be answered."""

    def __init__(self, url: str):
        self.url = url
        self.asked = 0
        self.failed = 0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        question = np.concatenate([silence(0.2), tone(0.6)])
        while not self.stop.is_set():
            self.asked += 1
            try:
                async with DeviceClient(self.url, device_id="canary") as device:
                    if not (await device.ask(question, timeout_s=30, speed=4.0)).sentences:
                        self.failed += 1
            except Exception:
                self.failed += 1


def fuzz_settings(data_dir: Path) -> Settings:
    return Settings(warmup=False, data_dir=data_dir, hello_timeout_s=1.0, lessons_dir=ROOT / "curriculum" / "lessons",
                    knowledge_dirs=[ROOT / "curriculum" / "knowledge"], watch_lessons=False,
                    max_sessions=10**6, max_sessions_per_address=10**6, max_pending_pairings_per_address=10**6)


async def open_connections(gateway, limit_s: float) -> int:
    """Device connections still open once every session has ended (waits up to `limit_s` for them to finish)."""
    deadline = time.monotonic() + limit_s
    while (gateway._open_total or gateway.sessions) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return gateway._open_total + len(gateway.sessions)


async def fuzz_sessions(count: int, seed: int, concurrency: int, limit_s: float, kinds: list[str]) -> dict:
    rng = random.Random(seed)
    stats = SessionStats()
    errors = ErrorLog()
    app = create_app(fuzz_settings(Path(tempfile.mkdtemp(prefix="hoot-fuzz-"))), fake_engines())
    started = time.perf_counter()
    async with serve_in_loop(app) as url:
        for name in ("uvicorn", ""):  # counted, not printed: thousands of malformed sessions log a lot
            logging.getLogger(name).handlers = [errors]
        logging.getLogger("hootkit").setLevel(logging.WARNING)
        canary = Canary(url)
        canary_task = asyncio.create_task(canary.run())
        plans = [(rng.choice(kinds), random.Random(rng.getrandbits(64)), number) for number in range(count)]
        queue = iter(plans)

        async def worker() -> None:
            for kind, session_rng, number in queue:
                await run_session(url, kind, session_rng, number, stats, limit_s)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        canary.stop.set()
        await canary_task
        left_open = await open_connections(app.state.hoot.gateway, 15.0)
    took = time.perf_counter() - started
    crashes = stats.crashes + sum(errors.crashes.values()) + canary.failed + left_open
    return {"sessions": stats.sessions, "kinds": dict(stats.kinds.most_common()), "crashes": crashes,
            "crash_parts": {"sessions": stats.crashes, "server_errors_logged": sum(errors.crashes.values()),
                            "canary_failures": canary.failed, "connections_left_open": left_open},
            "hangs": stats.hangs, "refusals_without_reason": stats.reasonless,
            "endings": dict(stats.endings.most_common()), "closes": dict(stats.closes.most_common()),
            "alert_codes": dict(stats.alert_codes.most_common()), "canary_questions": canary.asked,
            "server_errors": dict(errors.crashes), "server_tracebacks": errors.tracebacks,
            "known_error_logs": dict(errors.known), "problems": dict(stats.problems.most_common()),
            "problem_examples": stats.examples, "took_s": round(took, 1),
            "sessions_per_s": round(stats.sessions / took, 1)}


async def main(args) -> dict:
    frames = fuzz_frames(args.frames, args.seed)
    sessions = await fuzz_sessions(args.sessions, args.seed, args.concurrency, args.limit_s, args.kinds)
    summary = {"frames": frames["frames"], "sessions": sessions["sessions"],
               "crashes": frames["crashes"] + sessions["crashes"], "hangs": sessions["hangs"],
               "refusals_without_reason": frames["refusals_without_reason"] + sessions["refusals_without_reason"],
               "took_s": round(frames["took_s"] + sessions["took_s"], 1)}
    return {"seed": args.seed, "cpus": os.cpu_count(), "python": platform.python_version(), "limit_s": args.limit_s,
            "concurrency": args.concurrency, "summary": summary, "frames": frames, "sessions": sessions}


def print_result(result: dict) -> None:
    frames, sessions = result["frames"], result["sessions"]
    print_table(f"protocol fuzzing (seed {result['seed']}, {result['cpus']} CPUs, Python {result['python']})",
                [("part", "part", 22), ("count", "count", 10), ("crashes", "crashes", 9), ("hangs", "hangs", 7),
                 ("no reason", "reasonless", 11), ("took s", "took_s", 8)],
                [{"part": "frames (codec + FSMs)", "count": frames["frames"], "crashes": frames["crashes"],
                  "hangs": "-", "reasonless": frames["refusals_without_reason"], "took_s": frames["took_s"]},
                 {"part": "malformed sessions", "count": sessions["sessions"], "crashes": sessions["crashes"],
                  "hangs": sessions["hangs"], "reasonless": sessions["refusals_without_reason"],
                  "took_s": sessions["took_s"]}])
    print()
    print_table("how sessions ended", [("ending", "ending", 56), ("sessions", "count", 10)],
                [{"ending": key, "count": value} for key, value in sessions["endings"].items()])
    print()
    print_table("server closes (code reason)", [("close", "close", 80), ("sessions", "count", 10)],
                [{"close": key, "count": value} for key, value in sessions["closes"].items()])
    for problem in frames["crash_examples"]:
        print("  !", problem)
    for problem, count in sessions["problems"].items():
        print(f"  ! {count}x {problem}")
    for line, count in {**sessions["server_errors"], **sessions["known_error_logs"]}.items():
        print(f"  logged {count}x: {line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16, help="sessions at a time")
    parser.add_argument("--limit-s", type=float, default=10.0, help="time a session has to answer or be closed")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS), help="kinds of sessions")
    parser.add_argument("--quick", action="store_true", help="20,000 frames and 300 sessions")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.frames, arguments.sessions = 20_000, 300
    result = asyncio.run(main(arguments))
    print_result(result)
    out = Path(__file__).parent / "results" / ("fuzz-quick.json" if arguments.quick else "fuzz.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
