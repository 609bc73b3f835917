"""A protocol-speaking device client: streams audio like a microphone and records the reply."""

import asyncio
import time
from dataclasses import dataclass, field
from itertools import groupby

import numpy as np
import websockets
from websockets.asyncio.client import connect

import hootproto
from hootkit.client.wavio import last_voiced_sample
from hootproto import Abort, Alert, Audio, DeviceConnection, Hello, Lesson, Listen, Metrics, Pair, Stt, System, Tts


@dataclass
class TurnResult:
    """What one question got back, with the client-side voice-to-voice latency."""

    transcript: str | None = None
    sentences: list[str] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    sample_rate: int = 16000
    tts_states: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    lesson: list[Lesson] = field(default_factory=list)
    parts: dict[str, float] = field(default_factory=dict)
    vtv_ms: float | None = None
    abort_sent_at: float | None = None
    last_frame_at: float | None = None
    frames_after_abort: int = 0
    heard_at: float | None = None  # time.monotonic() when the server said what it heard (just before the reply's first sound)
    spoke_until: float | None = None  # time.monotonic() when the last voiced sample was sent
    first_audio_at: float | None = None  # time.monotonic() of the first reply frame
    last_audio_at: float | None = None  # time.monotonic() of the last reply frame, and of tts stop
    stop_at: float | None = None
    trace: list[str] = field(default_factory=list)

    @property
    def reply(self) -> str:
        return " ".join(self.sentences)

    @property
    def committed_at(self) -> float | None:
        """time.monotonic() when the server settled on the words it answered: the first reply frame less the server's
        own time from commit to sending it (when it sent its timings), else when it said what it heard."""
        if self.first_audio_at is not None and {"server_vtv", "endpoint_wait"} <= self.parts.keys():
            return self.first_audio_at - (self.parts["server_vtv"] - self.parts["endpoint_wait"]) / 1000
        return self.heard_at

    @property
    def cut_off(self) -> bool:
        """The answer was settled before the child had finished speaking: it answers part of the question."""
        committed = self.committed_at
        return committed is not None and (self.spoke_until is None or committed < self.spoke_until)

    def timed_out(self, timeout_s: float) -> TimeoutError:
        return TimeoutError(f"no complete reply within {timeout_s:g} s; heard: {self.heard_so_far()}")

    def heard_so_far(self) -> str:
        """The trace with repeats counted, e.g. "stt, llm, tts:start, audio x37": what a timeout says it got."""
        runs = ((label, len(list(same))) for label, same in groupby(self.trace))
        return ", ".join(label if count == 1 else f"{label} x{count}" for label, count in runs) or "nothing"

    def to_json(self) -> dict:
        parts = dict(self.parts)
        # the client's own end-of-speech check is sharper than the server's VAD, which lags a window or two
        if self.vtv_ms is not None and "server_vtv" in parts:
            parts["vad_lag_and_network"] = round(self.vtv_ms - parts["server_vtv"], 1)
        return {
            "transcript": self.transcript,
            "reply": self.reply,
            "vtv_ms": None if self.vtv_ms is None else round(self.vtv_ms, 1),
            "parts": parts,
            "alerts": [alert.message for alert in self.alerts],
            "reply_audio_s": round(len(self.audio) / 2 / self.sample_rate, 2),
        }


class Refused(ConnectionError):
    """The server closed the connection during the handshake; `reason` says why."""

    def __init__(self, code: int | None, reason: str):
        super().__init__(f"server closed the connection ({code}): {reason}")
        self.code = code
        self.reason = reason


class DeviceClient:
    """One device connection; `ask` speaks one question and waits for the whole answer.

    What the server says unasked (a lesson's opening, a nudge) is collected too: `told()` returns it.
    A teacher's commands and pairing news (`system` and `pair` events) come from `notice()`.
    """

    def __init__(self, url: str, token: str | None = None, device_id: str = "00:00:00:00:00:01", sample_rate: int = 16000,
                 frame_ms: int = 40, headers: dict[str, str] | None = None):
        self.url = url
        self.headers = headers or {}
        self.token = token
        self.device_id = device_id
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.conn = DeviceConnection()
        self.ws = None
        self.session_id = None
        self._turn: TurnResult | None = None
        self._turn_over = asyncio.Event()
        self.heard_audio = asyncio.Event()
        self._reader: asyncio.Task | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.alerts: list[Alert] = []
        self.lesson_events: list[Lesson] = []
        self._told: TurnResult | None = None
        self._told_queue: asyncio.Queue[TurnResult] = asyncio.Queue()
        self._notices: asyncio.Queue[System | Pair] = asyncio.Queue()
        self._alerts: asyncio.Queue[Alert] = asyncio.Queue()

    async def __aenter__(self) -> "DeviceClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def connect(self) -> None:
        headers = {"Device-Id": self.device_id, "Client-Id": "hoot-talk", "Protocol-Version": "1", **self.headers}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self.ws = await connect(self.url, additional_headers=headers, max_size=2**22, open_timeout=30)
        params = {"format": "pcm16", "sample_rate": self.sample_rate, "channels": 1, "frame_duration": self.frame_ms}
        try:
            await self.ws.send(self.conn.send(Hello(audio_params=params, features={"metrics": True})))
            while not self.conn.ready:
                for event in self.conn.receive(await self.ws.recv()):
                    if isinstance(event, Alert):
                        self.alerts.append(event)
        except websockets.ConnectionClosed as closed:
            reason = closed.rcvd.reason if closed.rcvd else "connection lost"
            raise Refused(closed.rcvd.code if closed.rcvd else None, reason) from closed
        self.session_id = self.conn.server_hello.session_id
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def send_event(self, event) -> None:
        await self.ws.send(self.conn.send(event))

    async def ask(
        self,
        samples: np.ndarray,
        mode: str = "auto",
        abort_after_s: float | None = None,
        timeout_s: float = 60.0,
        speed: float = 1.0,
        speech_end: int | None = None,
    ) -> TurnResult:
        """Stream int16 samples at real-time pace (times `speed`), then silence (auto) or a release (manual),
        until the reply ends. `speech_end`: the index past the last voiced sample, when the caller knows it
        better than a level check (speech in noise)."""
        turn = self._turn = TurnResult(sample_rate=self.conn.downlink["sample_rate"])
        self.heard_audio.clear()
        self._turn_over.clear()
        self._abort_after_s = abort_after_s
        frame = self.sample_rate * self.frame_ms // 1000
        last_voiced = last_voiced_sample(samples, self.sample_rate) if speech_end is None else speech_end
        await self.send_event(Listen(state="start", mode=mode))
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        silence = np.zeros(frame, np.int16).tobytes()
        deadline = start + len(samples) / self.sample_rate / speed + timeout_s
        while not self._turn_over.is_set():
            if sent < len(samples):
                chunk = samples[sent : sent + frame].tobytes()
            elif mode == "manual":
                await self.send_event(Listen(state="stop"))
                break
            else:
                chunk = silence
            await self.ws.send(self.conn.send(Audio(chunk)))
            sent += frame
            if turn.spoke_until is None and sent > last_voiced:
                turn.spoke_until = time.monotonic()
            if loop.time() > deadline:
                raise turn.timed_out(timeout_s)
            delay = start + min(sent, len(samples)) / self.sample_rate / speed + max(0, sent - len(samples)) / self.sample_rate - loop.time()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._turn_over.wait(), delay)
                except TimeoutError:
                    pass
        try:
            await asyncio.wait_for(self._turn_over.wait(), max(1.0, deadline - loop.time()))
        except TimeoutError:
            raise turn.timed_out(timeout_s) from None
        if mode != "manual":
            await self.send_event(Listen(state="stop"))
        self._turn = None
        return turn

    async def type_question(self, text: str, timeout_s: float = 60.0) -> TurnResult:
        """Ask in writing (`listen detect` with words that are no wake word), until the reply ends; its `vtv_ms`
        counts from the sending."""
        turn = self._turn = TurnResult(sample_rate=self.conn.downlink["sample_rate"])
        self._turn_over.clear()
        self._abort_after_s = None
        turn.spoke_until = time.monotonic()
        await self.send_event(Listen(state="detect", text=text))
        try:
            await asyncio.wait_for(self._turn_over.wait(), timeout_s)
        except TimeoutError:
            raise turn.timed_out(timeout_s) from None
        finally:
            self._turn = None
        return turn

    async def told(self, timeout_s: float = 60.0) -> TurnResult:
        """The next thing the server said without being asked, once it has finished saying it."""
        return await asyncio.wait_for(self._told_queue.get(), timeout_s)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                turn = self._turn
                if turn is not None:
                    turn.trace.append("audio" if isinstance(frame, bytes) else _describe(frame))
                    if turn.abort_sent_at is not None and isinstance(frame, bytes):
                        turn.frames_after_abort += 1
                        turn.last_frame_at = time.monotonic()
                for event in self.conn.receive(frame):
                    await self._on_event(event)
        except websockets.ConnectionClosed:
            pass
        finally:
            if self.ws.close_code is not None:
                self.close_code = self.ws.close_code
                self.close_reason = self.ws.close_reason
            self._turn_over.set()

    async def alert(self, code: str, timeout_s: float = 60.0) -> Alert:
        """The next alert with this code (earlier ones with other codes are passed over)."""

        async def find() -> Alert:
            while (alert := await self._alerts.get()).code != code:
                pass
            return alert

        return await asyncio.wait_for(find(), timeout_s)

    async def notice(self, timeout_s: float = 60.0) -> "System | Pair":
        """The next `system` or `pair` event; a `pair` event with a token becomes this client's token."""
        return await asyncio.wait_for(self._notices.get(), timeout_s)

    async def _on_event(self, event) -> None:
        if isinstance(event, (System, Pair)):
            if isinstance(event, Pair) and event.token:
                self.token = event.token
            self._notices.put_nowait(event)
        if isinstance(event, Lesson):
            self.lesson_events.append(event)
        if self._turn is not None and isinstance(event, Tts) and event.state != "start" and not self._turn.tts_states:
            return  # the end of an earlier reply, arriving after this question began
        asked_over = self._turn is None or "stop" in self._turn.tts_states
        if asked_over and isinstance(event, Tts) and event.state == "start":
            self._told = TurnResult(sample_rate=self.conn.downlink["sample_rate"])
        # after the asked turn's audio, what the server says is unasked (its metrics still belong to the turn)
        told_now = self._told is not None and asked_over and not isinstance(event, Metrics)
        turn = self._told if told_now or self._turn is None else self._turn
        asked = turn is not None and turn is self._turn
        if isinstance(event, Alert):
            self.alerts.append(event)
            self._alerts.put_nowait(event)
            if turn is not None:
                turn.alerts.append(event)
                if asked and event.code in ("no_speech", "backend_unavailable"):
                    self._turn_over.set()
            return
        if turn is None:
            return
        if isinstance(event, Stt):
            turn.transcript = event.text
            turn.heard_at = time.monotonic()
        elif isinstance(event, Tts):
            turn.tts_states.append(event.state)
            if event.state == "sentence_start":
                turn.sentences.append(event.text)
            if event.state == "stop":
                turn.stop_at = time.monotonic()
            if event.state == "stop" and not asked:
                self._told = None
                self._told_queue.put_nowait(turn)
            elif event.state == "stop" and turn.abort_sent_at is not None:
                self._turn_over.set()
        elif isinstance(event, Lesson):
            turn.lesson.append(event)
        elif isinstance(event, Metrics):
            turn.parts = dict(event.parts)
            if "stop" in turn.tts_states:
                self._turn_over.set()
        elif isinstance(event, Audio):
            if not turn.audio:
                turn.first_audio_at = time.monotonic()
            if asked and not turn.audio and turn.spoke_until is not None:
                turn.vtv_ms = (turn.first_audio_at - turn.spoke_until) * 1000
            turn.audio.extend(event.data)
            turn.last_audio_at = time.monotonic()
            self.heard_audio.set()
            if asked and self._abort_after_s is not None and turn.abort_sent_at is None:
                if len(turn.audio) / 2 / turn.sample_rate >= self._abort_after_s:
                    turn.abort_sent_at = time.monotonic()
                    await self.send_event(Abort(reason="button"))


def _describe(frame: str) -> str:
    """A short label for a text frame in a turn's trace, e.g. "tts:stop"."""
    try:
        event = hootproto.decode(frame)
    except hootproto.ProtocolError:
        return "invalid"
    state = getattr(event, "state", None)
    return f"{event.type}:{state}" if state else event.type
