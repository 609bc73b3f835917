"""Seeded fuzzing: random and mutated frames through the codec and both state machines, malformed sessions
against a real server. Every frame is accepted or refused with a known code; every session answers or is
closed with a reason. (bench/fuzz.py is the long run.)"""

import asyncio
import json

import numpy as np
import pytest
from conftest import fake_engines, fast_settings, silence, tone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hootkit.app import create_app
from hootkit.client.device import DeviceClient
from hootkit.serving import serve_in_loop, ws_max_size
from hootproto import DeviceConnection, ProtocolError, ServerConnection, decode, encode
from hootproto.codec import MAX_TEXT_BYTES

CODES = {"bad_frame", "bad_audio", "too_large", "bad_json", "bad_event", "unknown_type", "out_of_order"}
PCM = {"format": "pcm16", "sample_rate": 16000, "channels": 1, "frame_duration": 40}
HELLO = {"type": "hello", "audio_params": PCM}
SERVER_HELLO = {"type": "hello", "audio_params": PCM, "session_id": "s1"}
EVENTS = [
    HELLO, SERVER_HELLO,
    {"type": "listen", "state": "start", "mode": "auto"}, {"type": "listen", "state": "stop"},
    {"type": "listen", "state": "detect", "text": "hey hoot"}, {"type": "abort", "reason": "button"},
    {"type": "stt", "text": "hi"}, {"type": "llm", "emotion": "happy"}, {"type": "tts", "state": "start", "turn": 1},
    {"type": "tts", "state": "stop"}, {"type": "alert", "status": "error", "message": "no", "code": "bad_json"},
    {"type": "system", "command": "pause"}, {"type": "lesson", "state": "step", "step": 2, "correct": True},
    {"type": "pair", "state": "code", "code": "042917"}, {"type": "metrics", "turn": 1, "parts": {"stt": 3.5}},
]
PROBE = json.dumps({"type": "fuzz-probe"})
QUESTION = np.concatenate([silence(0.2), tone(0.6)])
FUZZ = settings(derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_events(draw) -> dict:
    """A valid event with a field dropped, retyped or swollen, one too many, or its type changed."""
    event = json.loads(json.dumps(draw(st.sampled_from(EVENTS))))
    fields = [name for name in event if name != "type"] or ["type"]
    field = draw(st.sampled_from(fields))
    how = draw(st.sampled_from(["drop", "retype", "extra", "type", "params", "swell"]))
    if how == "drop":
        event.pop(field, None)
    elif how == "retype":
        event[field] = draw(json_values)
    elif how == "extra":
        event[draw(st.text(max_size=8))] = draw(json_values)
    elif how == "type":
        event["type"] = draw(st.text(max_size=12) | json_values)
    elif how == "params" and "audio_params" in event:
        event["audio_params"][draw(st.sampled_from([*PCM, "extra"]))] = draw(json_values)
    elif how == "swell":
        event[field] = draw(st.sampled_from(["x", "é", "🦉"])) * draw(st.sampled_from([4000, 5000, 16384, 17000]))
    return event


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


text_frames = st.one_of(
    st.sampled_from(EVENTS).map(json.dumps),
    mutated_events().map(lambda event: json.dumps(event, ensure_ascii=False)),
    st.builds(lambda text, cut: text[:cut], st.sampled_from(EVENTS).map(json.dumps), st.integers(0, 80)),
    st.text(max_size=60),
    json_values.map(json.dumps),
    st.sampled_from([10, 999, 1000, 5000, MAX_TEXT_BYTES // 2]).map(nested),
)
frames = text_frames | st.binary(max_size=700) | st.sampled_from([None, 7, 1.5, [], {}])


def state_of(conn) -> tuple:
    return tuple(getattr(conn, name, None) for name in (
        "ready", "listening", "mode", "speaking", "turn", "hello_sent", "device_hello", "server_hello", "discarding"))


def receive(conn, frame) -> list:
    """`frame` into `conn`: events, or a ProtocolError with a known code and a message that changed nothing."""
    before = state_of(conn)
    try:
        return conn.receive(frame)
    except ProtocolError as error:
        assert error.code in CODES and error.message
        assert state_of(conn) == before
        return []


@pytest.mark.timeout(60)
@settings(FUZZ, max_examples=400)
@given(frame=frames)
def test_codec_accepts_a_frame_or_refuses_it_with_a_code(frame):
    try:
        event = decode(frame)
    except ProtocolError as error:
        assert error.code in CODES and error.message
        return
    if isinstance(frame, str):
        assert len(frame.encode("utf-8", "surrogatepass")) <= MAX_TEXT_BYTES
        again = encode(event)
        if len(again) <= MAX_TEXT_BYTES:  # escaping non-ASCII text can make the frame outgrow the limit
            assert encode(decode(again)) == again


@pytest.mark.timeout(60)
@settings(FUZZ, max_examples=150)
@given(said_hello=st.booleans(), listening=st.booleans(), stream=st.lists(frames, max_size=25))
def test_server_connection_refusals_change_nothing(said_hello, listening, stream):
    server = ServerConnection()
    if said_hello:
        server.receive(json.dumps(HELLO))
        if listening:
            server.receive(json.dumps(EVENTS[2]))
    for frame in stream:
        receive(server, frame)


@pytest.mark.timeout(60)
@settings(FUZZ, max_examples=150)
@given(stage=st.integers(0, 3), stream=st.lists(frames, max_size=25))
def test_device_connection_refusals_change_nothing(stage, stream):
    device = DeviceConnection()
    if stage >= 1:
        device.send(decode(json.dumps(HELLO)))
    if stage >= 2:
        device.receive(json.dumps(SERVER_HELLO))
    if stage >= 3:
        device.receive(json.dumps(EVENTS[8]))  # tts start: speaking
    for frame in stream:
        receive(device, frame)


# -- regressions the fuzzing found ---------------------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_deeply_nested_json_is_refused_as_bad_json():
    objects = '{"a":' * 2500 + "1" + "}" * 2500
    for frame in (nested(5000), objects, '{"type": "hello", "audio_params": %s}' % nested(4000)):
        with pytest.raises(ProtocolError) as refused:
            decode(frame)
        assert refused.value.code == "bad_json"


@pytest.mark.timeout(10)
def test_the_text_limit_counts_utf8_bytes_not_characters():
    frame = json.dumps({"type": "abort", "reason": "é" * 9000}, ensure_ascii=False)  # 9,000 characters, 18,000 bytes
    with pytest.raises(ProtocolError) as refused:
        decode(frame)
    assert refused.value.code == "too_large"


@pytest.mark.timeout(10)
def test_a_null_field_takes_its_default_and_round_trips():
    hello = decode(json.dumps({**HELLO, "version": None, "transport": None}))
    assert (hello.version, hello.transport) == (1, "websocket")
    assert decode(encode(hello)) == hello


# -- malformed sessions against a real server -----------------------------------------------------------------------

wire_text = text_frames.filter(lambda text: not any(0xD800 <= ord(c) <= 0xDFFF for c in text))  # UTF-8 can carry it
wire_frames = wire_text | st.binary(min_size=1, max_size=700) | st.just(b"\x00" * (ws_max_size(fast_settings()) + 1))
session_plans = st.tuples(st.lists(wire_frames, max_size=4), st.booleans(), st.lists(wire_frames, max_size=12))


async def answer_or_close(ws, alerts: list) -> None:
    """Read until the server answers the probe or closes the session; a close must name its reason."""
    try:
        while True:
            frame = await ws.recv()
            if isinstance(frame, str) and (event := json.loads(frame))["type"] == "alert":
                alerts.append(event)
                if event["code"] == "unknown_type" and "fuzz-probe" in event["message"]:
                    return
    except ConnectionClosed:
        assert ws.close_code != 1011 and ws.close_reason, (ws.close_code, ws.close_reason)


async def play(url: str, plan: tuple, device: str) -> list:
    before, say_hello, after = plan
    alerts: list[dict] = []
    async with connect(url, additional_headers={"Device-Id": device}, ping_interval=None) as ws:
        try:
            for frame in [*before, *([json.dumps(HELLO)] if say_hello else []), *after, PROBE]:
                await ws.send(frame)
        except ConnectionClosed:
            pass
        await answer_or_close(ws, alerts)
    assert all(alert["code"] and alert["message"] for alert in alerts), alerts
    return alerts


@pytest.mark.timeout(60)
@settings(FUZZ, max_examples=5)
@given(plans=st.lists(session_plans, min_size=8, max_size=8))
def test_malformed_sessions_are_answered_or_closed_with_a_reason(plans):
    async def run() -> None:
        app = create_app(fast_settings(hello_timeout_s=0.5), fake_engines())
        async with serve_in_loop(app) as url:
            await asyncio.gather(*(play(url, plan, f"fuzz-{number}") for number, plan in enumerate(plans)))
            async with DeviceClient(url, device_id="healthy") as healthy:  # the server still serves
                assert (await healthy.ask(QUESTION, speed=4.0)).sentences

    asyncio.run(run())


@pytest.mark.timeout(30)
async def test_deeply_nested_json_gets_an_alert_and_the_session_lives(serve):
    async with serve() as url, connect(url) as ws:
        await ws.send(json.dumps(HELLO))
        await ws.recv()
        await ws.send(nested(5000))
        await ws.send(PROBE)
        alerts: list[dict] = []
        await answer_or_close(ws, alerts)
        assert [alert["code"] for alert in alerts] == ["bad_json", "unknown_type"]
