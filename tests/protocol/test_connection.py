"""State machine tests for both roles: handshake order, listening, speaking, abort."""

from check import raises
from hootproto import (
    Abort,
    Alert,
    Audio,
    DeviceConnection,
    Hello,
    LocalProtocolError,
    Listen,
    ProtocolError,
    ServerConnection,
    Stt,
    Tts,
)

PCM = {"format": "pcm16", "sample_rate": 16000, "channels": 1, "frame_duration": 40}


def handshake():
    device, server = DeviceConnection(), ServerConnection()
    server.receive(device.send(Hello(audio_params=PCM)))
    device.receive(server.send(Hello(audio_params=PCM, session_id="s1")))
    return device, server


def test_handshake():
    device, server = handshake()
    assert device.state == "idle" and server.state == "idle"
    assert server.uplink["sample_rate"] == 16000
    assert device.downlink["frame_duration"] == 40
    assert device.server_hello.session_id == "s1"


def test_server_refuses_anything_before_hello():
    server = ServerConnection()
    assert raises(ProtocolError, server.receive, b"\x00\x00").code == "out_of_order"
    assert raises(ProtocolError, server.receive, '{"type":"listen","state":"start"}').code == "out_of_order"
    assert server.state == "handshake"


def test_second_hello_is_refused():
    device, server = handshake()
    frame = '{"type":"hello","audio_params":{"format":"pcm16","sample_rate":16000,"channels":1,"frame_duration":40}}'
    assert raises(ProtocolError, server.receive, frame).code == "out_of_order"


def test_server_may_alert_before_hello():
    server = ServerConnection()
    assert '"alert"' in server.send(Alert(status="error", message="send hello first"))
    raises(LocalProtocolError, server.send, Stt(text="hi"))


def test_device_must_wait_for_server_hello():
    device = DeviceConnection()
    device.send(Hello(audio_params=PCM))
    raises(LocalProtocolError, device.send, Listen(state="start", mode="auto"))
    raises(LocalProtocolError, device.send, Hello(audio_params=PCM))


def test_listen_and_speak_cycle():
    device, server = handshake()
    server.receive(device.send(Listen(state="start", mode="manual")))
    assert server.state == "listening" and server.mode == "manual"
    server.receive(device.send(Audio(b"\x00\x00" * 320)))
    server.receive(device.send(Listen(state="stop")))
    assert server.state == "idle"
    device.receive(server.send(Tts(state="start", turn=1)))
    assert device.state == "speaking" and device.turn == 1
    assert device.receive(server.send(Audio(b"\x01\x00"))) == [Audio(b"\x01\x00")]
    device.receive(server.send(Tts(state="stop")))
    assert device.state == "idle"


def test_server_cannot_send_audio_after_abort():
    device, server = handshake()
    device.receive(server.send(Tts(state="start", turn=1)))
    server.receive(device.send(Abort(reason="button")))
    assert server.state != "speaking"
    raises(LocalProtocolError, server.send, Audio(b"\x00\x00"))


def test_device_drops_stale_audio_after_abort():
    device, server = handshake()
    device.receive(server.send(Tts(state="start", turn=1)))
    in_flight = server.send(Audio(b"\x02\x00"))
    device.send(Abort(reason="button"))
    assert device.receive(in_flight) == []
    assert device.dropped_frames == 1
    device.receive(server.send(Tts(state="start", turn=2)))
    assert device.receive(server.send(Audio(b"\x03\x00"))) == [Audio(b"\x03\x00")]


def test_device_refuses_events_before_server_hello():
    device = DeviceConnection()
    device.send(Hello(audio_params=PCM))
    assert raises(ProtocolError, device.receive, '{"type":"stt","text":"x"}').code == "out_of_order"
    assert device.receive('{"type":"alert","status":"error","message":"bad token"}')[0].message == "bad token"
