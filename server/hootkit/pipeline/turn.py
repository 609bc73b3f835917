"""One voice turn: STT -> LLM -> clauses -> TTS -> paced frames, speculative until committed.

A turn starts when the child pauses. Until the endpoint commits it, it may transcribe, think and
synthesize, but nothing reaches the device; if the child speaks again it is cancelled and its
work thrown away. After commit its audio is sent with a short pre-roll, then at real-time pace,
so an abort stops it within a frame.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from hootkit.engines.base import BackendError, Llm, Stt, Tts
from hootkit.pipeline.audio import Framer, Resampler
from hootkit.pipeline.clauses import ClauseSplitter
from hootkit.pipeline.metrics import TurnClock
from hootkit.pipeline.prompt import Conversation
from hootkit.safety import guard
from hootkit.safety.redact import redact
from hootproto import Alert, Audio, Metrics, Stt as SttEvent, Tts as TtsEvent

log = logging.getLogger(__name__)

_END = object()
FALLBACK = "Sorry, my thinking part is not working right now. Please tell your teacher."


@dataclass
class TurnContext:
    """What a turn needs from its session: engines, memory, the downlink and a way to send."""

    key: str
    stt: Stt
    llm: Llm
    tts: Tts
    conversation: Conversation
    send: Callable[[object], Awaitable[None]]
    downlink_rate: int
    frame_ms: int
    pre_roll_ms: int
    max_sentences: int
    on_activity: Callable[[str], None]
    usage_refusal: Callable[[str], "guard.Verdict | None"]


class Turn:
    """A question and its answer; `outcome` says how it ended once `task` is done."""

    def __init__(self, number: int, pcm: np.ndarray, clock: TurnClock, ctx: TurnContext):
        self.number = number
        self.pcm = pcm
        self.clock = clock
        self.ctx = ctx
        self.committed = asyncio.Event()
        self.transcript = ""
        self.spoken: list[str] = []
        self.outcome = "running"
        self.error: str | None = None
        self.flags: list[guard.Verdict] = []
        self.reply_s = 0.0
        self.task: asyncio.Task | None = None

    def start(self) -> "Turn":
        self.task = asyncio.create_task(self._run(), name=f"turn-{self.ctx.key}-{self.number}")
        return self

    def commit(self) -> None:
        if not self.committed.is_set():
            self.clock.commit = TurnClock.now()
            self.committed.set()

    def cancel(self, outcome: str) -> None:
        if self.task and not self.task.done():
            self.outcome = outcome
            self.task.cancel()

    async def _run(self) -> None:
        ctx, clock = self.ctx, self.clock
        producer = None
        started_audio = False
        try:
            clock.stt_start = TurnClock.now()
            self.transcript = (await ctx.stt.transcribe(self.pcm, ctx.key)).text.strip()
            clock.stt_end = TurnClock.now()
            if not _has_words(self.transcript):
                await self.committed.wait()
                self.outcome = "empty"
                await ctx.send(SttEvent(text=""))
                await ctx.send(Alert(status="info", message="I didn't catch that. Could you say it again?", code="no_speech"))
                return
            screened = ctx.usage_refusal(self.transcript) or guard.check_input(self.transcript)
            if not screened.allowed:
                self.flags.append(screened)
            frames: asyncio.Queue = asyncio.Queue()
            producer = asyncio.create_task(self._produce(frames, screened))
            await self.committed.wait()
            ctx.on_activity("thinking")
            await ctx.send(SttEvent(text=self.transcript))
            await ctx.send(TtsEvent(state="start", turn=self.number))
            started_audio = True
            await self._play(frames)
            await producer
            if self.error:
                self.outcome = "error"
                await ctx.send(Alert(status="error", message=self.error, code="backend_unavailable"))
            else:
                self.outcome = "answered"
        except asyncio.CancelledError:
            if self.outcome == "running":
                self.outcome = "cancelled"
            raise
        except Exception as error:
            # a bug or a crashed engine ends this turn only; the session and other devices go on
            self.outcome = "error"
            self.error = f"{type(error).__name__}: {error}"
            log.exception("turn %s/%d failed", ctx.key, self.number)
            if self.committed.is_set():
                await _quietly(ctx.send(Alert(status="error", message="Something went wrong; please ask again.", code="internal")))
        finally:
            if producer is not None and not producer.done():
                producer.cancel()
            if started_audio:
                await _quietly(ctx.send(TtsEvent(state="stop", turn=self.number)))
            if self.committed.is_set():
                if not any(flag.stage in ("input", "usage") for flag in self.flags):  # unsafe words never prime the LLM
                    ctx.conversation.remember(redact(self.transcript), " ".join(self.spoken))
                if self.outcome in ("answered", "aborted"):
                    await _quietly(ctx.send(Metrics(turn=self.number, parts=clock.parts())))

    async def _produce(self, frames: asyncio.Queue, screened: guard.Verdict) -> None:
        """LLM text -> guarded clauses -> TTS -> resampled, framed PCM16 on the queue, clause by clause.

        A transcript the input guard stopped is answered with its redirection, without the LLM; a
        clause the output guard stops is replaced by its redirection, and the rest is dropped.
        """
        ctx, clock = self.ctx, self.clock
        splitter = ClauseSplitter()
        resampler = Resampler(ctx.tts.sample_rate, ctx.downlink_rate, dtype="int16")
        framer = Framer(ctx.downlink_rate * ctx.frame_ms // 1000)
        trusted = not screened.allowed
        clock.llm_start = TurnClock.now()
        try:
            if trusted:
                pieces = self._redirect(screened)
            else:
                pieces = ctx.llm.stream(ctx.conversation.messages(self.transcript), ctx.key)
            stopped = False
            try:
                async for piece in pieces:
                    if clock.llm_first_token is None:
                        clock.llm_first_token = TurnClock.now()
                    for clause in splitter.push(piece):
                        stopped = await self._say(clause, trusted, resampler, framer, frames)
                        if stopped:
                            break
                    if stopped or splitter.sentences >= ctx.max_sentences:
                        break
            except BackendError as error:
                log.warning("turn %s/%d: %s", ctx.key, self.number, error)
                self.error = str(error)
                splitter, trusted = ClauseSplitter(), True
                for clause in splitter.push(FALLBACK):
                    await self._say(clause, trusted, resampler, framer, frames)
            if not stopped and splitter.sentences < ctx.max_sentences:
                for clause in splitter.flush():
                    await self._say(clause, trusted, resampler, framer, frames)
            tail = resampler.process(np.zeros(0, dtype=np.int16), last=True)
            for frame in framer.push(tail) + framer.flush():
                frames.put_nowait(Audio(frame.tobytes()))
        finally:
            frames.put_nowait(_END)

    async def _say(self, clause: str, trusted: bool, resampler: Resampler, framer: Framer, frames: asyncio.Queue) -> bool:
        """Speak one clause after the output guard; True when the guard stopped the reply."""
        checked = None if trusted else guard.check_output(clause)
        if checked is not None and not checked.allowed:
            self.flags.append(checked)
            clause = checked.reply
        await self._speak(clause, resampler, framer, frames)
        return checked is not None and not checked.allowed

    @staticmethod
    async def _redirect(verdict: guard.Verdict):
        yield verdict.reply + " "

    async def _speak(self, clause: str, resampler: Resampler, framer: Framer, frames: asyncio.Queue) -> None:
        clock = self.clock
        if clock.first_clause is None:
            clock.first_clause = TurnClock.now()
        frames.put_nowait(TtsEvent(state="sentence_start", text=clause, turn=self.number))
        async for chunk in self.ctx.tts.synthesize(clause, self.ctx.key):
            if clock.tts_first_audio is None:
                clock.tts_first_audio = TurnClock.now()
            for frame in framer.push(resampler.process(chunk)):
                frames.put_nowait(Audio(frame.tobytes()))

    async def _play(self, frames: asyncio.Queue) -> None:
        """Send queued events and frames: the pre-roll at once, then one frame per frame time."""
        ctx = self.ctx
        loop = asyncio.get_running_loop()
        frame_s = ctx.frame_ms / 1000
        lead_s = ctx.pre_roll_ms / 1000
        start = None
        sent_s = 0.0
        while (item := await frames.get()) is not _END:
            if isinstance(item, Audio):
                if start is None:
                    start = loop.time()
                    ctx.on_activity("speaking")
                delay = start + sent_s - lead_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await ctx.send(item)
                if self.clock.first_audio_sent is None:
                    self.clock.first_audio_sent = TurnClock.now()
                sent_s += frame_s
                self.reply_s = sent_s
            else:
                self.spoken.append(item.text)
                await ctx.send(item)
        # let the device play out what it has buffered before we say the reply is over
        remaining = (start or 0) + sent_s - loop.time()
        if start is not None and remaining > 0:
            await asyncio.sleep(remaining)


def _has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


async def _quietly(coro: Awaitable[None]) -> None:
    """Final notices of a turn: the device may already be gone, and that is fine."""
    try:
        await coro
    except (ConnectionError, RuntimeError) as error:
        log.debug("could not send end-of-turn notice: %s", error)
