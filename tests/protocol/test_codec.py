"""Codec tests: every event round-trips, bad frames raise ProtocolError with a code."""

import json

from check import raises
from hootproto import Abort, Alert, Audio, Hello, Listen, Metrics, Pair, ProtocolError, Stt, System, Tts, decode, encode

PCM = {"format": "pcm16", "sample_rate": 16000, "channels": 1, "frame_duration": 40}


def test_every_event_round_trips():
    events = [
        Hello(audio_params=PCM, features={"aec": False}),
        Hello(audio_params=PCM, session_id="s1"),
        Listen(state="start", mode="auto"),
        Listen(state="stop"),
        Listen(state="detect", text="hey hoot"),
        Abort(reason="button"),
        Stt(text="how many legs does a spider have"),
        Tts(state="sentence_start", text="Eight!", turn=3),
        Alert(status="error", message="nope", code="bad_json"),
        System(command="pause"),
        Pair(state="code", code="042917"),
        Pair(state="paired", token="t0k3n", name="Table 3"),
        Metrics(turn=1, parts={"stt": 301.5, "llm_first_token": 48}),
    ]
    for event in events:
        assert decode(encode(event)) == event, event


def test_audio_is_binary_both_ways():
    frame = encode(Audio(b"\x01\x02"))
    assert frame == b"\x01\x02"
    assert decode(bytearray(b"\x01\x02")) == Audio(b"\x01\x02")


def test_hello_matches_xiaozhi_wire_shape():
    wire = json.loads(encode(Hello(audio_params=PCM)))
    assert wire["type"] == "hello"
    assert wire["version"] == 1
    assert wire["transport"] == "websocket"
    assert wire["audio_params"]["sample_rate"] == 16000


def test_malformed_json_has_code():
    assert raises(ProtocolError, decode, "{not json").code == "bad_json"
    assert raises(ProtocolError, decode, "[1, 2]").code == "bad_json"


def test_unknown_type_has_code():
    error = raises(ProtocolError, decode, '{"type": "dance"}')
    assert error.code == "unknown_type"
    assert "dance" in str(error)


def test_pair_needs_its_code_or_token():
    assert raises(ProtocolError, decode, '{"type": "pair", "state": "code"}').code == "bad_event"
    assert raises(ProtocolError, decode, '{"type": "pair", "state": "paired", "code": "1"}').code == "bad_event"


def test_missing_type():
    assert raises(ProtocolError, decode, '{"state": "start"}').code == "bad_event"
    assert raises(ProtocolError, decode, '{"type": 5}').code == "bad_event"


def test_bad_fields_are_refused():
    bad = [
        '{"type": "listen"}',
        '{"type": "listen", "state": "sing"}',
        '{"type": "listen", "state": "start", "mode": 3}',
        '{"type": "stt", "text": true}',
        '{"type": "hello"}',
        '{"type": "hello", "audio_params": {"format": "mp3", "sample_rate": 16000, "channels": 1, "frame_duration": 60}}',
        '{"type": "hello", "audio_params": {"format": "pcm16", "sample_rate": 16000, "channels": 2, "frame_duration": 60}}',
        '{"type": "hello", "audio_params": {"format": "pcm16", "sample_rate": -1, "channels": 1, "frame_duration": 60}}',
        '{"type": "hello", "audio_params": {"format": "pcm16", "sample_rate": true, "channels": 1, "frame_duration": 60}}',
        '{"type": "hello", "audio_params": {"format": "pcm16", "sample_rate": 16000, "channels": 1, "frame_duration": 500}}',
        '{"type": "metrics", "turn": 1, "parts": {"stt": "fast"}}',
    ]
    for frame in bad:
        assert raises(ProtocolError, decode, frame).code == "bad_event", frame


def test_unknown_fields_are_ignored_for_forward_compatibility():
    event = decode('{"type": "abort", "reason": "wake_word", "future": 1}')
    assert event == Abort(reason="wake_word")


def test_oversized_and_empty_frames():
    assert raises(ProtocolError, decode, '{"type":"stt","text":"' + "a" * 20000 + '"}').code == "too_large"
    assert raises(ProtocolError, decode, b"").code == "bad_audio"
    assert raises(ProtocolError, decode, 42).code == "bad_frame"
