"""EchoKit boxes on the native gateway: their websocket (JSON commands and PCM up, MessagePack events and Opus
down) translated frame by frame into hootproto, so an EchoKit box gets the same session as any device.

An EchoKit box has no hello and no way to keep a token, so it connects as `/ws/{id}` (admitted only where no
pairing is needed: this machine, or a device token) or as `/ws/k/{token}/{id}`, the server URL a teacher
enters on echokit.dev/setup as `ws://<server>:8765/ws/k/<token>`. Server events are MessagePack encoded as
Rust's rmp_serde writes them: a unit variant as its name, a struct variant as {name: [fields]}, and bytes
as an array of integers."""

import asyncio
import io
import json
import wave
import weakref
from collections.abc import Callable

import msgpack
import numpy as np
import opuslib_next as opus
from starlette.datastructures import Headers
from starlette.websockets import WebSocket

from hootkit.gateway.translating import TranslatingSocket
from hootkit.pipeline.audio import Resampler
from hootkit.pipeline.clauses import ClauseSplitter
from hootkit.pipeline.fixed_words import FIXED_WORDS, pin_later, pinned
from hootproto import ProtocolError

RATE = 16000  # EchoKit speaks and plays 16 kHz mono
PACKET_MS = 60  # Opus packets down, at most 120 ms as the box's decoder allows
HELLO = json.dumps({"type": "hello", "version": 1, "transport": "websocket",
                    "audio_params": {"format": "pcm16", "sample_rate": RATE, "channels": 1, "frame_duration": 40}})
GREETING = "Hi! I'm Hootkit, an AI helper. What would you like to know?"  # played by the box when it is woken
HELLO_CHUNK = 2048  # bytes of the greeting a HelloChunk, as echokit_server sends it
COMMANDS = {"StartChat": {"type": "listen", "state": "start", "mode": "auto"},
            "StartRecord": {"type": "listen", "state": "start", "mode": "manual"},
            "Submit": {"type": "listen", "state": "stop"}}


def event(name: str, *fields) -> bytes:
    """One server event as rmp_serde writes it (`to_vec`: struct variants as arrays of their fields)."""
    return msgpack.packb({name: list(fields)} if fields else name)


_GREETINGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # voice -> the greeting's HelloChunk events


async def greeting_wav(tts) -> bytes:
    """The greeting in the server's voice as a 16 kHz mono 16-bit WAV file (see `greeting_wav_now`)."""
    await asyncio.shield(pin_later(tts, GREETING))  # shared: one waiter going away does not stop it
    return greeting_wav_now(tts)


def greeting_wav_now(tts) -> bytes:
    """The greeting as echokit_server sends it (its `hello_wav` file, read as it is) and the box plays it when
    woken, from the voice's pinned words."""
    splitter = ClauseSplitter()
    spoken = [chunk for clause in splitter.push(GREETING) + splitter.flush() for chunk in FIXED_WORDS.get(tts, clause)]
    pcm = Resampler(tts.sample_rate, RATE, dtype="int16").process(np.concatenate(spoken), last=True)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm.astype("<i2").tobytes())
    return out.getvalue()


def greeting_chunks(tts) -> list[bytes] | None:
    """The greeting's HelloChunk events in this voice, or None until the voice has said it (in the background)."""
    chunks = _GREETINGS.get(tts)
    if chunks is None and pinned(pin_later(tts, GREETING)):
        wav = greeting_wav_now(tts)
        chunks = _GREETINGS[tts] = [event("HelloChunk", list(wav[start:start + HELLO_CHUNK]))
                                    for start in range(0, len(wav), HELLO_CHUNK)]
    return chunks


class EchoKitSocket(TranslatingSocket):
    """An EchoKit box's websocket, seen by the native gateway as a hootproto one."""

    can_pair = False  # a code could be said, but the box could not keep the token it earns

    def __init__(self, ws: WebSocket, device_id: str, token: str | None = None, voice: Callable[[], object] | None = None):
        super().__init__(ws)
        self._voice = voice  # the server's TTS, once it is loaded: it says the greeting
        extra = [(b"device-id", device_id.encode())] + ([(b"authorization", f"Bearer {token}".encode())] if token else [])
        self.headers = Headers(raw=[(k, v) for k, v in ws.headers.raw if k not in (b"device-id", b"authorization")] + extra)
        self._said_hello = False
        self._encoder = opus.Encoder(RATE, 1, opus.APPLICATION_VOIP)
        self._packet_bytes = RATE * PACKET_MS // 1000 * 2
        self._pending = bytearray()
        self._speaking = False  # between StartAudio and EndAudio

    async def receive(self) -> dict:
        if not self._said_hello:  # the box says nothing first: its session starts at once
            self._said_hello = True
            return {"type": "websocket.receive", "text": HELLO}
        while True:
            message = await self.ws.receive()
            if message["type"] != "websocket.receive" or message.get("bytes") is not None:
                return message  # PCM s16le at 16 kHz is what hootproto carries already
            try:
                text = self._command(message.get("text") or "")
            except ProtocolError as problem:
                return {"type": "websocket.receive", "problem": problem}
            if text is not None:
                return {"type": "websocket.receive", "text": text}

    def _command(self, text: str) -> str | None:
        try:
            command = json.loads(text)
        except (ValueError, RecursionError):
            raise ProtocolError("an EchoKit command must be JSON", "bad_json") from None
        name = command.get("event") if isinstance(command, dict) else None
        if name in COMMANDS:
            return json.dumps(COMMANDS[name])
        if name in ("Text", "Select"):
            return None  # typed input and menu choices are not served yet
        raise ProtocolError("unknown EchoKit command %r" % (name,), "unknown_type")

    async def send_text(self, text: str) -> None:
        data = json.loads(text)
        kind, state = data.get("type"), data.get("state")
        if kind == "hello":
            await self._greet()
        elif kind == "stt":
            await self.ws.send_bytes(event("EndVad"))
            await self.ws.send_bytes(event("ASR", data["text"]))
        elif kind == "tts" and state == "sentence_start":
            await self._end_audio()
            await self.ws.send_bytes(event("StartAudio", data.get("text", "")))
            self._speaking = True
        elif (kind == "tts" and state == "stop") or (kind == "system" and data.get("command") in ("pause", "stop")):
            await self._end_audio()
            await self.ws.send_bytes(event("EndResponse"))

    async def _greet(self) -> None:
        """HelloStart, the greeting WAV in HelloChunks, HelloEnd: the box keeps it and plays it when woken. Until
        the voice has said it once (the first box after a start), a box keeps its own greeting."""
        chunks = greeting_chunks(self._voice()) if self._voice is not None else None
        if chunks is None:
            return
        await self.ws.send_bytes(event("HelloStart"))
        for chunk in chunks:
            await self.ws.send_bytes(chunk)
        await self.ws.send_bytes(event("HelloEnd"))

    async def send_bytes(self, pcm: bytes) -> None:
        if not self._speaking:  # audio outside a sentence (a notice): it still needs its StartAudio
            await self.ws.send_bytes(event("StartAudio", ""))
            self._speaking = True
        self._pending.extend(pcm)
        while len(self._pending) >= self._packet_bytes:
            await self._send_packet(bytes(self._pending[: self._packet_bytes]))
            del self._pending[: self._packet_bytes]

    async def _end_audio(self) -> None:
        if self._pending:
            await self._send_packet(bytes(self._pending) + bytes(self._packet_bytes - len(self._pending)))
            self._pending.clear()
        if self._speaking:
            await self.ws.send_bytes(event("EndAudio"))
            self._speaking = False

    async def _send_packet(self, pcm: bytes) -> None:
        packet = self._encoder.encode(pcm, len(pcm) // 2)
        await self.ws.send_bytes(event("AudioChunk", list(packet)))
