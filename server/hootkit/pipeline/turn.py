"""One voice turn: STT -> LLM -> clauses -> TTS -> paced frames, speculative until committed.

A turn starts when the child pauses. Until the endpoint commits it, it may transcribe, think and
synthesize, but nothing reaches the device; if the child speaks again it is cancelled and its
work thrown away. Committed, it still sends nothing until its reply's first sound is ready, so a
child who goes on before then can be heard whole (`take_back`). Then what it heard and its audio
are sent, the audio with a short pre-roll, then at real-time pace, so an abort stops it within a frame.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass

import numpy as np

from hootkit.engines.base import BackendError, Llm, Stt, Tts
from hootkit.pipeline.actions import Generate, Plan, Progress, Say
from hootkit.pipeline.audio import Framer, Resampler
from hootkit.pipeline.clauses import ClauseSplitter
from hootkit.pipeline.fixed_words import FIXED_WORDS
from hootkit.pipeline.metrics import TurnClock
from hootkit.pipeline.prompt import Conversation
from hootkit.pipeline.style import ReplyStyle
from hootkit.safety import guard
from hootkit.safety.redact import redact
from hootkit.safety.moderator import Opinion, second_opinion
from hootproto import Alert, Audio, Lesson as LessonEvent, Metrics, Stt as SttEvent, Tts as TtsEvent

log = logging.getLogger(__name__)

_END = object()
FALLBACK = "Sorry, my thinking part is not working right now. Please tell your teacher."
APOLOGIES = {"en": FALLBACK, "zh": "对不起，我的思考部分现在出了问题。请告诉你的老师。"}


def apology_in(language: str) -> str:
    """What the child hears when an engine fails, in the language they are talking in (English for others)."""
    return APOLOGIES.get(language, FALLBACK)


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
    respond: Callable[[str, list[str]], Plan | None]
    guards: "Sequence[Opinion]" = ()
    recall: Callable[[str], Awaitable[list[str]]] | None = None
    max_words: int = 30
    hints: tuple[str, ...] = ()  # words the child is likely to say, for the speech model
    apology: str = FALLBACK  # said when an engine fails, in the voice's language (kept pinned for that voice)


class Turn:
    """A question and its answer, or (with `plan` and no audio) words the server starts saying itself.

    `outcome` says how it ended once `task` is done.
    """

    def __init__(self, number: int, pcm: np.ndarray | None, clock: TurnClock, ctx: TurnContext, plan: Plan | None = None):
        self.number = number
        self.pcm = pcm
        self.clock = clock
        self.ctx = ctx
        self.plan = plan
        self.committed = asyncio.Event()
        self.audible = False  # something of it has been sent to the device: it can no longer be taken back
        self.heard = asyncio.Event()  # set once the transcript is known (or the turn is over)
        self.end_score: asyncio.Future | None = None  # the end-of-turn model's verdict on what was heard, when asked
        self.words_reading: asyncio.Future | None = None  # the turn-words model's reading of the transcript, when asked
        self.transcript = ""
        self.spoken: list[str] = []
        self.outcome = "running"
        self.error: str | None = None
        self.flags: list[guard.Verdict] = []
        self.forgot = False
        self.reply_s = 0.0
        self.task: asyncio.Task | None = None
        self._frames: asyncio.Queue = asyncio.Queue()
        self._resampler = Resampler(ctx.tts.sample_rate, ctx.downlink_rate, dtype="int16")
        self._framer = Framer(ctx.downlink_rate * ctx.frame_ms // 1000)

    def start(self) -> "Turn":
        self.task = asyncio.create_task(self._run(), name=f"turn-{self.ctx.key}-{self.number}")
        return self

    def commit(self) -> None:
        if not self.committed.is_set():
            self.clock.commit = TurnClock.now()
            self.committed.set()
        self._drop_verdicts()  # committed: a verdict still queued would only hold up its worker

    def _drop_verdicts(self) -> None:
        for verdict in (self.end_score, self.words_reading):
            if verdict is not None:
                verdict.cancel()

    def take_back(self) -> None:
        """The child went on (or asks afresh) after the commit, before anything was sent: the turn ends as if never
        committed."""
        if not self.audible:
            self.committed.clear()
            self.cancel("cancelled")

    def cancel(self, outcome: str) -> None:
        if self.task and not self.task.done():
            self.outcome = outcome
            self.task.cancel()

    async def _run(self) -> None:
        ctx, clock = self.ctx, self.clock
        producer = None
        started_audio = False
        try:
            if self.plan is None:
                self.plan = await self._listen()
            if self.plan is None:
                await self.committed.wait()
                self.outcome = "empty"
                self.audible = True
                await ctx.send(SttEvent(text=""))
                await ctx.send(Alert(status="info", message="I didn't catch that. Could you say it again?", code="no_speech"))
                return
            producer = asyncio.create_task(self._produce(self.plan))
            await self.committed.wait()
            ctx.on_activity("thinking")
            ready = await self._first_sound() if self.pcm is not None else []  # words of its own: nothing to take back
            self.audible = True
            if self.pcm is not None:
                await ctx.send(SttEvent(text=self.transcript))
            await ctx.send(TtsEvent(state="start", turn=self.number))
            started_audio = True
            await self._play(ready)
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
        except ConnectionError:  # the device went while its reply was sent: nobody to tell
            self.outcome = "device_gone"
        except Exception as error:
            # a bug or a crashed engine ends this turn only; the session and other devices go on
            self.outcome = "error"
            self.error = "an internal error (the server's log has it)"
            log.exception("turn %s/%d failed", ctx.key, self.number)
            if self.committed.is_set():
                await _quietly(ctx.send(Alert(status="error", message="Something went wrong; please ask again.", code="internal")))
        finally:
            self.heard.set()
            self._drop_verdicts()  # a queued verdict nobody will read frees its worker
            if producer is not None and not producer.done():
                producer.cancel()
            if started_audio:
                await _quietly(ctx.send(TtsEvent(state="stop", turn=self.number)))
            if self.committed.is_set() and self.pcm is not None:
                if not any(flag.stage in ("input", "usage") for flag in self.flags):  # unsafe words never prime the LLM
                    self.forgot = ctx.conversation.remember(redact(self.transcript), " ".join(self.spoken))
                if self.outcome in ("answered", "aborted") and self.audible:
                    await _quietly(ctx.send(Metrics(turn=self.number, parts=clock.parts())))

    async def _listen(self) -> Plan | None:
        """What the child said, screened, and the plan to answer it (None: nothing to answer)."""
        ctx, clock = self.ctx, self.clock
        clock.stt_start = TurnClock.now()
        try:
            self.transcript = (await ctx.stt.transcribe(self.pcm, ctx.key, ctx.hints)).text.strip()
        except BackendError as error:  # nothing was heard: the child hears the apology, the teacher the reason
            self._failed(error)
            self.heard.set()
            return Plan([Say(ctx.apology)])
        clock.stt_end = TurnClock.now()
        self.heard.set()
        if not _has_words(self.transcript):
            self.transcript = ""
            return ctx.respond("", [])
        # the facts are looked up while the guards screen the words: both run in the endpoint wait
        screening = ctx.usage_refusal(self.transcript) or second_opinion(guard.check_input(self.transcript), ctx.guards)
        recall = ctx.recall(self.transcript) if ctx.recall is not None else _nothing()
        if isinstance(screening, guard.Verdict):
            recall.close()
            screened, facts = screening, []
        else:
            screened, facts = await asyncio.gather(screening, recall)
        if not screened.allowed:
            self.flags.append(screened)
            return Plan([Say(screened.reply)])
        return ctx.respond(self.transcript, facts)

    async def _produce(self, plan: Plan) -> None:
        """The plan as framed PCM16 and events on the queue, in order, then the end marker.

        Fixed words are spoken as they are; LLM replies pass the output guard clause by clause; if an engine
        behind a network (the LLM, the TTS) fails, the child hears a spoken apology and the rest of the plan is
        dropped. The apology is said from FIXED_WORDS (kept at warm-up), so it needs no TTS.
        """
        self.clock.llm_start = TurnClock.now()
        try:
            try:
                for action in plan.actions:
                    if isinstance(action, Say):
                        await self._speak_text(action.text)
                    elif isinstance(action, Progress):
                        self._frames.put_nowait(LessonEvent(**vars(action)))
                    else:
                        reply = await self._stream_reply(action)
                        if plan.lesson is not None:
                            plan.lesson.replied(reply)
            except BackendError as error:
                self._failed(error)
                await self._apologise()
            tail = self._resampler.process(np.zeros(0, dtype=np.int16), last=True)
            for frame in self._framer.push(tail) + self._framer.flush():
                self._frames.put_nowait(Audio(frame.tobytes()))
        finally:
            self._frames.put_nowait(_END)

    def _failed(self, error: BackendError) -> None:
        """An engine behind a network failed: the turn ends with the apology and an alert naming it."""
        log.warning("turn %s/%d: %s", self.ctx.key, self.number, error)
        if self.error is None:
            self.error = error.brief

    async def _apologise(self) -> None:
        try:
            await self._speak_text(self.ctx.apology)
        except BackendError as error:  # the TTS is down and the apology was never kept: the alert still goes out
            log.warning("turn %s/%d: could not say the apology either: %s", self.ctx.key, self.number, error)

    async def _stream_reply(self, generate: Generate) -> str:
        """LLM text -> clauses -> reply style -> output guard -> TTS; stops where the style or a guard ends it.

        Returns what was said.
        """
        ctx, clock = self.ctx, self.clock
        splitter = ClauseSplitter()
        style = ReplyStyle(ctx.max_sentences, ctx.max_words)
        said: list[str] = []
        # closed as soon as the reply stops, so the LLM is free for other devices at once
        async with aclosing(ctx.llm.stream(generate.messages, ctx.key)) as pieces:
            async for piece in pieces:
                if clock.llm_first_token is None:
                    clock.llm_first_token = TurnClock.now()
                for clause in splitter.push(piece):
                    if not await self._speak_checked(clause, style, said):
                        return " ".join(said)
                if style.done:
                    return " ".join(said)
        for clause in splitter.flush():
            if not await self._speak_checked(clause, style, said):
                break
        return " ".join(said)

    async def _speak_checked(self, clause: str, style: ReplyStyle, said: list[str]) -> bool:
        """Speak an LLM clause as the style admits it, or the guard's redirection instead; False when the reply ends.

        The clause is synthesised while the guards after the word lists decide, and its audio is released
        only once they allow it, so their check costs no time on the way to the first sound.
        """
        clause = style.admit(clause)
        if clause is None:
            return False
        if not clause:
            log.info("turn %s/%d: dropped a clause in which the model played a person", self.ctx.key, self.number)
            return True
        listed = guard.check_output(clause)
        audio: asyncio.Queue = asyncio.Queue()
        synthesis = asyncio.create_task(self._synthesize(clause, audio)) if listed.allowed else None
        try:
            checked = await second_opinion(listed, self.ctx.guards, self.transcript)
            if checked.allowed:
                said.append(clause)
                await self._release(clause, audio)
                return True
        finally:
            if synthesis is not None and not synthesis.done():
                synthesis.cancel()
        self.flags.append(checked)
        said.append(checked.reply)
        await self._speak(checked.reply)
        return False

    async def _speak_text(self, text: str) -> None:
        """Speak words of our own (redirections, apologies), clause by clause; no guard needed."""
        splitter = ClauseSplitter()
        for clause in splitter.push(text) + splitter.flush():
            await self._speak(clause, fixed=True)

    async def _synthesize(self, clause: str, audio: asyncio.Queue, fixed: bool = False) -> None:
        """The clause's audio chunks onto `audio`, then None (or the error that stopped it). Fixed words are
        kept once whole, and said from what was kept after that."""
        kept = FIXED_WORDS.get(self.ctx.tts, clause) if fixed else None
        try:
            if kept is not None:
                for chunk in kept:
                    audio.put_nowait(chunk)
                return
            made = []
            async with aclosing(self.ctx.tts.synthesize(clause, self.ctx.key)) as chunks:
                async for chunk in chunks:
                    made.append(chunk)
                    audio.put_nowait(chunk)
            if fixed:
                FIXED_WORDS.keep(self.ctx.tts, clause, made)
        except Exception as error:  # re-raised where the audio is released, in the turn's own task
            audio.put_nowait(error)
        finally:  # whatever ends synthesis, the release never waits for audio that will not come
            audio.put_nowait(None)

    async def _speak(self, clause: str, fixed: bool = False) -> None:
        audio: asyncio.Queue = asyncio.Queue()
        synthesis = asyncio.create_task(self._synthesize(clause, audio, fixed))
        try:
            await self._release(clause, audio)
        finally:
            synthesis.cancel()

    async def _release(self, clause: str, audio: asyncio.Queue) -> None:
        """The clause's start and its audio, as synthesis delivers it, onto the frame queue."""
        clock = self.clock
        if clock.first_clause is None:
            clock.first_clause = TurnClock.now()
        self._frames.put_nowait(TtsEvent(state="sentence_start", text=clause, turn=self.number))
        while (chunk := await audio.get()) is not None:
            if isinstance(chunk, Exception):
                raise chunk
            if clock.tts_first_audio is None:
                clock.tts_first_audio = TurnClock.now()
            for frame in self._framer.push(self._resampler.process(chunk)):
                self._frames.put_nowait(Audio(frame.tobytes()))

    async def _first_sound(self) -> list:
        """The queued items up to the reply's first audio frame (or its end), taken once they are ready."""
        ready = [await self._frames.get()]
        while not isinstance(ready[-1], Audio) and ready[-1] is not _END:
            ready.append(await self._frames.get())
        return ready

    async def _play(self, ready: list) -> None:
        """Send the `ready` items, then queued events and frames: the pre-roll at once, then one frame per frame time."""
        ctx = self.ctx
        loop = asyncio.get_running_loop()
        frame_s = ctx.frame_ms / 1000
        lead_s = ctx.pre_roll_ms / 1000
        start = None
        sent_s = 0.0
        pending = deque(ready)
        while (item := pending.popleft() if pending else await self._frames.get()) is not _END:
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
                if isinstance(item, TtsEvent):
                    self.spoken.append(item.text)
                await ctx.send(item)
        # let the device play out what it has buffered before we say the reply is over
        remaining = (start or 0) + sent_s - loop.time()
        if start is not None and remaining > 0:
            await asyncio.sleep(remaining)


async def _nothing() -> list[str]:
    return []


def _has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


async def _quietly(coro: Awaitable[None]) -> None:
    """Final notices of a turn: the device may already be gone, and that is fine."""
    try:
        await coro
    except (ConnectionError, RuntimeError) as error:
        log.debug("could not send end-of-turn notice: %s", error)
