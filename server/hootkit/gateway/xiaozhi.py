"""XiaoZhi devices on the native gateway: their websocket (protocol versions 1-3, Opus both ways) translated
frame by frame into hootproto, so a XiaoZhi device gets the same session, guards, limits and teacher controls.

The native gateway serves an `XiaoZhiSocket` exactly as it serves a websocket: it reads hootproto frames from
it and writes hootproto frames to it. This module only changes the wire format: the binary framing of the
`Protocol-Version`, Opus <-> PCM, and the few JSON fields the two protocols name differently."""

import json
import struct
import time

import opuslib_next as opus
from opuslib_next.api.decoder import packet_get_nb_frames, packet_get_samples_per_frame
from starlette.websockets import WebSocket, WebSocketDisconnect

from hootkit.gateway.mcp import DeviceTools
from hootkit.gateway.translating import TranslatingSocket
from hootproto import ProtocolError

PATH = "/xiaozhi/v1/"
VERSIONS = (1, 2, 3)
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
DOWNLINK_FRAME_MS = 60  # what stock firmware decodes by default
MAX_PACKET_MS = 120  # the longest Opus packet
REAL_TIME_SLACK = 1.25  # uplink audio may run this much faster than real time (network bunching)...
BURST_S = 2.0  # ...plus this much, before packets are refused unread: decoding costs the server CPU
HEADER_V2 = struct.Struct(">HHIII")  # version, type (0: opus), reserved, timestamp ms, payload size
HEADER_V3 = struct.Struct(">BBH")  # type (0: opus), reserved, payload size
HELD = {"pause": "Your teacher paused me for now.", "stop": "Your teacher stopped me for now.", "resume": "I'm back!"}
ALERT_EMOTION = {"info": "neutral", "warning": "confused", "error": "sad"}


def protocol_version(ws: WebSocket) -> int | None:
    """The framing the device asked for (1 when it does not say), or None for one this server cannot speak."""
    raw = ws.headers.get("protocol-version", "1").strip() or "1"
    return int(raw) if raw in ("1", "2", "3") else None


def unpack(version: int, frame: bytes) -> bytes | None:
    """The Opus packet in one binary frame; None for a packet of a type that carries no audio."""
    if version == 1:
        return frame
    header = HEADER_V2 if version == 2 else HEADER_V3
    if len(frame) < header.size:
        raise ProtocolError("binary frame shorter than its %d-byte protocol %d header" % (header.size, version), "bad_frame")
    fields = header.unpack_from(frame)
    kind, size = (fields[1], fields[4]) if version == 2 else (fields[0], fields[2])
    if size != len(frame) - header.size:
        raise ProtocolError("binary frame says %d payload bytes but carries %d" % (size, len(frame) - header.size), "bad_frame")
    return frame[header.size:] if kind == 0 else None


def pack(version: int, packet: bytes, timestamp_ms: int = 0) -> bytes:
    if version == 1:
        return packet
    if version == 2:
        return HEADER_V2.pack(2, 0, 0, timestamp_ms & 0xFFFFFFFF, len(packet)) + packet
    return HEADER_V3.pack(0, 0, len(packet)) + packet


class XiaoZhiSocket(TranslatingSocket):
    """A XiaoZhi device's websocket, seen by the native gateway as a hootproto one."""

    def __init__(self, ws: WebSocket, version: int):
        super().__init__(ws)
        self.version = version
        self._decoder: opus.Decoder | None = None
        self._decode_samples = 0  # the longest packet, in samples
        self._rate = 0
        self._heard_s = 0.0  # uplink audio decoded so far
        self._first_audio_at: float | None = None
        self._encoder: opus.Encoder | None = None
        self._frame_bytes = 0
        self._pending = bytearray()  # downlink PCM not yet a whole Opus frame
        self._sent_ms = 0
        self._offers_tools = False
        self._session_id = ""
        self.tools: DeviceTools | None = None  # once the device said hello offering MCP

    async def receive(self) -> dict:
        while True:
            message = await self.ws.receive()
            if message["type"] != "websocket.receive":
                return message
            try:
                if message.get("bytes") is not None:
                    pcm = self._audio_in(message["bytes"])
                    if pcm is not None:
                        return {"type": "websocket.receive", "bytes": pcm}
                else:
                    text = self._text_in(message.get("text") or "")
                    if text is not None:
                        return {"type": "websocket.receive", "text": text}
            except ProtocolError as problem:
                return {"type": "websocket.receive", "problem": problem}

    def _audio_in(self, frame: bytes) -> bytes | None:
        packet = unpack(self.version, frame)
        if packet is None:
            return None
        if self._decoder is None:
            raise ProtocolError("audio before hello", "out_of_order")
        try:
            samples = packet_get_nb_frames(packet) * packet_get_samples_per_frame(packet, self._rate)
        except opus.OpusError as error:
            raise ProtocolError("not an Opus packet this server can decode (%s)" % error, "bad_audio") from None
        if samples > self._decode_samples:
            raise ProtocolError("an Opus packet of %d ms, over the %d ms an Opus packet may last"
                                % (samples * 1000 // self._rate, MAX_PACKET_MS), "bad_audio")
        now = time.monotonic()
        self._first_audio_at = self._first_audio_at or now
        if self._heard_s > (now - self._first_audio_at) * REAL_TIME_SLACK + BURST_S:
            raise ProtocolError("audio arrives faster than real time: packet dropped", "too_fast")
        try:
            pcm = self._decoder.decode(packet, self._decode_samples)
        except opus.OpusError as error:
            raise ProtocolError("not an Opus packet this server can decode (%s)" % error, "bad_audio") from None
        self._heard_s += len(pcm) / 2 / self._rate
        return pcm

    def _text_in(self, text: str) -> str | None:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return text  # hootproto says what is wrong with it
        if not isinstance(data, dict):
            return text
        kind = data.get("type")
        if kind == "mcp":
            if self.tools is not None:
                self.tools.received(data.get("payload"))
            return None
        if kind == "hello":
            features = data.get("features")
            self._offers_tools = isinstance(features, dict) and features.get("mcp") is True
        if kind == "hello" and isinstance(data.get("audio_params"), dict) and self._decoder is None:
            params = data["audio_params"]
            rate, frame_ms = params.get("sample_rate"), params.get("frame_duration")
            if params.get("format") != "opus":
                raise ProtocolError("XiaoZhi devices send Opus: audio_params.format must be opus", "unsupported_audio")
            if rate not in OPUS_RATES:
                raise ProtocolError("Opus audio needs a sample_rate of %s" % ", ".join(map(str, OPUS_RATES)), "unsupported_audio")
            if not isinstance(frame_ms, int) or not 10 <= frame_ms <= MAX_PACKET_MS:
                raise ProtocolError("audio_params.frame_duration must be 10..%d ms" % MAX_PACKET_MS, "unsupported_audio")
            self._decoder, self._rate = opus.Decoder(rate, 1), rate
            self._decode_samples = rate * MAX_PACKET_MS // 1000  # some boards send other lengths than they announce
            data["audio_params"] = {**params, "format": "pcm16"}
            return json.dumps(data)
        return text

    async def send_text(self, text: str) -> None:
        data = json.loads(text)
        kind = data.get("type")
        if kind == "hello":
            await self.ws.send_text(json.dumps(self._hello_out(data)))
            if self._offers_tools and self.tools is None:
                self.tools = DeviceTools(self._send_mcp)
                self.tools.start()
            return
        elif kind == "tts" and data.get("state") == "stop":
            await self._flush()
        elif kind == "alert":
            data["emotion"] = ALERT_EMOTION.get(data.get("status"), "neutral")
        elif kind == "system":
            if data.get("command") not in HELD:
                return await self.ws.send_text(text)  # reboot: the firmware's own command
            await self._flush()
            data = {"type": "alert", "status": data["command"], "message": HELD[data["command"]], "emotion": "neutral"}
        elif kind == "pair" and data.get("state") == "code":
            data = {"type": "alert", "status": "pairing", "message": "Pairing code: %s" % data["code"], "emotion": "happy"}
        elif kind in ("pair", "lesson", "metrics"):
            return None  # Hootkit's own events: a stock device has nothing to show them with
        await self.ws.send_text(json.dumps(data))

    async def _send_mcp(self, payload: dict) -> None:
        try:
            await self.ws.send_text(json.dumps({"session_id": self._session_id, "type": "mcp", "payload": payload}))
        except (RuntimeError, OSError, WebSocketDisconnect) as gone:
            raise ConnectionError(f"device is gone ({type(gone).__name__})") from None

    def _hello_out(self, hello: dict) -> dict:
        self._session_id = hello.get("session_id", "")
        rate = hello["audio_params"]["sample_rate"]
        self._encoder = opus.Encoder(rate, 1, opus.APPLICATION_VOIP)
        self._frame_bytes = rate * DOWNLINK_FRAME_MS // 1000 * 2
        return {
            "type": "hello",
            "transport": "websocket",
            "session_id": hello.get("session_id", ""),
            "audio_params": {"format": "opus", "sample_rate": rate, "channels": 1, "frame_duration": DOWNLINK_FRAME_MS},
        }

    async def send_bytes(self, pcm: bytes) -> None:
        self._pending.extend(pcm)
        while len(self._pending) >= self._frame_bytes:
            frame = bytes(self._pending[: self._frame_bytes])
            del self._pending[: self._frame_bytes]
            await self._send_packet(frame)

    async def _flush(self) -> None:
        """The reply's last partial frame, padded with silence, so the device plays every word."""
        if self._pending and self._encoder is not None:
            frame = bytes(self._pending) + bytes(self._frame_bytes - len(self._pending))
            self._pending.clear()
            await self._send_packet(frame)

    async def _send_packet(self, frame: bytes) -> None:
        packet = self._encoder.encode(frame, len(frame) // 2)
        await self.ws.send_bytes(pack(self.version, packet, self._sent_ms))
        self._sent_ms += DOWNLINK_FRAME_MS
