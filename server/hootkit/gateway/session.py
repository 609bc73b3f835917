"""One connected device: its audio intake, endpointing, and the turn it is in."""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

import numpy as np

from hootkit.engines.base import STT_RATE, VAD_WINDOW, BackendError
from hootkit.engines.registry import Engines
from hootkit.pipeline import endpointer as ep
from hootkit.pipeline.audio import Resampler, pcm16_to_float
from hootkit.pipeline.metrics import ServerMetrics, TurnClock
from hootkit.pipeline.prompt import Conversation
from hootkit.pipeline.turn import Turn, TurnContext
from hootkit.safety.redact import redact
from hootkit.safety.usage import UsageLimits
from hootkit.settings import Settings
from hootproto import Abort, Alert, Audio, Hello, Listen

log = logging.getLogger(__name__)

WINDOW_MS = VAD_WINDOW * 1000 / STT_RATE
INTAKE_LIMIT = 256


class DeviceSession:
    """Owns one device's listening state; text events are handled at once, audio in arrival order."""

    def __init__(
        self,
        session_id: str,
        device_id: str,
        engines: Engines,
        settings: Settings,
        metrics: ServerMetrics,
        usage: UsageLimits,
        send: Callable[[object], Awaitable[None]],
    ):
        self.session_id = session_id
        self.device_id = device_id
        self.engines = engines
        self.settings = settings
        self.metrics = metrics
        self.usage = usage
        self.send = send
        self.activity = "connected"
        self.mode = "auto"
        self.listening = False
        self.turn: Turn | None = None
        self.turns_started = 0
        self.conversation = Conversation(settings.llm.history_turns)
        self.endpointer = ep.Endpointer(settings.vad, WINDOW_MS)
        self._pre_roll_windows = max(1, int(settings.vad.pre_roll_ms / WINDOW_MS))
        self._reset_listening()
        self._resampler: Resampler | None = None
        self._turn_context: TurnContext | None = None
        self._intake: asyncio.Queue = asyncio.Queue(maxsize=INTAKE_LIMIT)
        self._intake_task: asyncio.Task | None = None
        self._warned_not_listening = False
        self._reading_memory: asyncio.Task | None = None

    # -- events from the gateway -------------------------------------------------------------

    def start(self, hello: Hello) -> None:
        rate = hello.audio_params["sample_rate"]
        self._resampler = Resampler(rate, STT_RATE)
        self._turn_context = TurnContext(
            key=self.session_id,
            stt=self.engines.stt,
            llm=self.engines.llm,
            tts=self.engines.tts,
            conversation=self.conversation,
            send=self.send,
            downlink_rate=rate,
            frame_ms=self.settings.audio.downlink_frame_ms,
            pre_roll_ms=self.settings.audio.pre_roll_ms,
            max_sentences=self.settings.llm.max_sentences,
            on_activity=self._set_activity,
            usage_refusal=lambda transcript: self.usage.refusal(self.device_id, transcript),
        )
        self._intake_task = asyncio.create_task(self._run_intake(), name=f"intake-{self.session_id}")
        self.activity = "idle"

    async def handle(self, event: object) -> None:
        if isinstance(event, Abort):
            self._abort(event.reason or "device")
        elif isinstance(event, (Audio, Listen)):
            try:
                self._intake.put_nowait((event, TurnClock.now()))
            except asyncio.QueueFull:
                self.metrics.dropped_audio.inc()

    async def close(self) -> None:
        if self._intake_task:
            self._intake_task.cancel()
        if self._reading_memory:
            self._reading_memory.cancel()
        if self.turn:
            self.turn.cancel("disconnected")
            await asyncio.gather(self.turn.task, return_exceptions=True)

    # -- audio intake, in order ----------------------------------------------------------------

    async def _run_intake(self) -> None:
        while True:
            event, received_at = await self._intake.get()
            if isinstance(event, Listen):
                await self._on_listen(event, received_at)
            else:
                await self._on_audio(event.data, received_at)

    async def _on_listen(self, event: Listen, received_at: float) -> None:
        if event.state == "start":
            self.mode = event.mode or "auto"
            self.listening = True
            self._reset_listening()
        elif event.state == "stop" and self.listening:
            self.listening = False
            if self.endpointer.speech_started and not self._busy():
                if self.mode == "manual":
                    self._speech_end_at = received_at
                    self._begin_turn().commit()
                else:
                    (self.turn or self._begin_turn()).commit()
            elif self.mode == "manual" and not self._busy():
                await self.send(Alert(status="info", message="I didn't hear anything. Hold the button and talk.", code="no_speech"))
            self.activity = "idle" if not self._busy() else self.activity

    async def _on_audio(self, data: bytes, received_at: float) -> None:
        if not self.listening or self._deaf():
            self.metrics.dropped_audio.inc()
            if not self.listening and not self._warned_not_listening:
                self._warned_not_listening = True
                await self.send(Alert(status="warning", message="audio ignored: send listen start first", code="not_listening"))
            return
        if len(data) % 2:
            await self.send(Alert(status="error", message="pcm16 frames need an even number of bytes", code="bad_audio"))
            return
        samples = np.concatenate([self._partial, self._resampler.process(pcm16_to_float(data))])
        count = len(samples) // VAD_WINDOW
        self._partial = samples[count * VAD_WINDOW :]
        if not count:
            return
        windows = samples[: count * VAD_WINDOW].reshape(count, VAD_WINDOW)
        probs = await self.engines.vad_executor.run(self.session_id, self._vad_stream.speech_probs, windows)
        for window, prob in zip(windows, probs):
            if self._deaf():
                return
            self._windows.append(window)
            for event in self.endpointer.push(prob):
                await self._on_endpoint_event(event)
            if self.endpointer.voiced:
                self._speech_end_at = received_at

    async def _on_endpoint_event(self, event: str) -> None:
        manual = self.mode == "manual"
        if event == ep.SPEECH:
            self._windows = deque(self._windows, maxlen=None)
            self.activity = "listening"
            if self.mode == "realtime" and self._busy():
                self._abort("barge-in")
        elif event == ep.PAUSE and not manual:
            self._begin_turn()
        elif event == ep.RESUME and self.turn and not self.turn.committed.is_set():
            self.turn.cancel("cancelled")
            self.turn = None
        elif event == ep.ENDPOINT and not manual:
            (self.turn or self._begin_turn()).commit()
            self._listen_over_reply()
        elif event == ep.TOO_LONG:
            limit = self.settings.vad.max_utterance_s
            await self.send(
                Alert(status="warning", message=f"That was a long one! I listened to the first {limit:g} seconds.", code="too_long")
            )
            self._speech_end_at = TurnClock.now()
            self._begin_turn(replace=True).commit()
            self._listen_over_reply()

    # -- turns --------------------------------------------------------------------------------

    def _busy(self) -> bool:
        return self.turn is not None and self.turn.committed.is_set()

    def _deaf(self) -> bool:
        """While answering, auto and manual modes ignore the microphone; realtime keeps listening."""
        return self._busy() and self.mode != "realtime"

    def _listen_over_reply(self) -> None:
        if self.mode == "realtime":
            self._reset_listening()

    def _begin_turn(self, replace: bool = False) -> Turn:
        if self.turn and (replace or not self.turn.committed.is_set()):
            self.turn.cancel("cancelled")
        self.turns_started += 1
        pcm = np.concatenate(list(self._windows)) if self._windows else np.zeros(VAD_WINDOW, np.float32)
        clock = TurnClock(speech_end=self._speech_end_at)
        turn = Turn(self.turns_started, pcm, clock, self._turn_context).start()
        turn.task.add_done_callback(lambda _task, turn=turn: self._turn_finished(turn))
        self.turn = turn
        return turn

    def _turn_finished(self, turn: Turn) -> None:
        if turn.committed.is_set():
            self.usage.record(self.device_id, len(turn.pcm) / STT_RATE + turn.reply_s)
            self.metrics.turns.labels(turn.outcome).inc()
            if turn.outcome == "answered":
                self.metrics.observe_turn(turn.clock.parts())
            log.info("turn %s/%d %s: %r -> %r %s", self.session_id, turn.number, turn.outcome,
                     redact(turn.transcript), redact(" ".join(turn.spoken)), turn.clock.parts())
            for flag in turn.flags:
                self.metrics.safety_flags.labels(flag.stage, flag.category, flag.verdict).inc()
                log.warning("safety flag %s/%d: %s %s %s on %r", self.session_id, turn.number, flag.stage,
                            flag.verdict, flag.category, redact(flag.text))
        if turn.forgot:
            self._read_memory_ahead()
        if self.turn is turn:
            self.turn = None
            if self.mode != "realtime":
                self._reset_listening()
            self.activity = "listening" if self.listening else "idle"

    def _read_memory_ahead(self) -> None:
        """Forgetting old turns changed the prompt's prefix, so the LLM's cache no longer matches it: let
        the LLM read the kept memory now, while the child thinks, not when the next question arrives."""

        async def read() -> None:
            try:
                async for _ in self.engines.llm.stream(self.conversation.messages(""), self.session_id):
                    break
            except BackendError as error:
                log.info("reading memory ahead for %s failed: %s", self.session_id, error)

        self._reading_memory = asyncio.create_task(read(), name=f"memory-{self.session_id}")

    def _abort(self, reason: str) -> None:
        if self.turn is not None:
            log.info("abort %s/%d (%s)", self.session_id, self.turn.number, reason)
            self.turn.cancel("aborted" if self.turn.committed.is_set() else "cancelled")

    def _reset_listening(self) -> None:
        self.endpointer.reset()
        self._windows: deque[np.ndarray] = deque(maxlen=self._pre_roll_windows)
        self._partial = np.zeros(0, np.float32)
        self._speech_end_at = None
        self._vad_stream = self.engines.vad.new_stream()

    def _set_activity(self, activity: str) -> None:
        self.activity = activity
