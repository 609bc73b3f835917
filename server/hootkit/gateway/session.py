"""One connected device: its audio intake, endpointing, and the turn it is in."""

import asyncio
import dataclasses
import logging
from collections import deque
from contextlib import aclosing
from collections.abc import Awaitable, Callable

import numpy as np

from hootkit.engines.base import STT_RATE, VAD_WINDOW, BackendError, Transcript
from hootkit.engines.languages import Languages
from hootkit.engines.models import ModelMissing
from hootkit.engines.registry import Engines
from hootkit.gateway.mcp import DeviceTools
from hootkit.gateway.observer import SessionObserver
from hootkit.knowledge.arithmetic import worked_sum
from hootkit.lessons.engine import LessonRun
from hootkit.pipeline import endpointer as ep
from hootkit.pipeline.actions import Generate, Plan, Say
from hootkit.pipeline.audio import Resampler, pcm16_to_float
from hootkit.pipeline.metrics import ServerMetrics, TurnClock
from hootkit.pipeline.prompt import Conversation
from hootkit.pipeline.turn import FALLBACK, Turn, TurnContext, apology_in
from hootkit.safety.normalize import unobfuscated
from hootkit.safety.redact import redact
from hootkit.safety.usage import UsageLimits
from hootkit.settings import Settings
from hootproto import Abort, Alert, Audio, Hello, Listen, Pair, System

log = logging.getLogger(__name__)


class NotListening:
    """Speech-to-text for a device nobody has paired yet: it hears nothing, and costs no model time."""

    async def transcribe(self, pcm: np.ndarray, key: str, hints=()) -> Transcript:
        return Transcript(text="", language="", audio_s=len(pcm) / STT_RATE)


NOT_LISTENING = NotListening()


class TypedWords:
    """Speech-to-text for a typed question: it "hears" the words the device sent, which then go the way heard words
    go (guards, limits, the lesson, the model)."""

    def __init__(self, text: str):
        self.text = text

    async def transcribe(self, pcm: np.ndarray, key: str, hints=()) -> Transcript:
        return Transcript(text=self.text, language="", audio_s=0.0)


def is_wake_word(text: str, wake_words: list[str]) -> bool:
    """`text` is one of `wake_words`, ignoring case, spaces and punctuation."""
    return _bare(text) in {_bare(word) for word in wake_words}


def _bare(text: str) -> str:
    return "".join(char for char in text.casefold() if char.isalnum())


@dataclasses.dataclass
class SoundsFinished:
    """The end-of-turn verdict on `turn` (0: sure it is finished, up to 1: unsure), queued behind the audio that
    arrived before it."""

    turn: Turn
    doubt: float

WINDOW_MS = VAD_WINDOW * 1000 / STT_RATE
TYPED_LIMIT = 300  # characters of a typed question that are read
TYPED_EVERY_S = 2.0  # a device's typed questions are answered at most this often; others are dropped
TYPED_CHARGE_S = 5.0  # what a typed question counts against the daily talking time, besides its answer
INTAKE_LIMIT = 256
FLAGS_KEPT = 50
HOLDS = {"pause": "paused", "stop": "stopped"}
TEACHER_WORDS = {
    "pause": "Let's take a little break. Your teacher paused me.",
    "stop": "Okay, I'll stop now. Bye for now!",
    "resume": "I'm back! Let's go on.",
}


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
        languages: Languages,
        send: Callable[[object], Awaitable[None]],
        observer: SessionObserver | None = None,
        device_tools: Callable[[], DeviceTools | None] = lambda: None,
    ):
        self.session_id = session_id
        self.device_id = device_id
        self.engines = engines
        self.settings = settings
        self.metrics = metrics
        self.usage = usage
        self.languages = languages
        self.send = send
        self.observer = observer or SessionObserver()
        self.device_tools = device_tools  # a XiaoZhi device's MCP tools, once it offered them
        self._activity = "connected"
        self.held: str | None = None  # "paused" or "stopped" by a teacher
        self.pairing_code: str | None = None  # until a teacher pairs the device
        self.mode = "auto"
        self.listening = False
        self.turn: Turn | None = None
        self.turns_started = 0
        self.conversation = Conversation(settings.llm.history_turns)
        self.endpointer = ep.Endpointer(settings.vad, WINDOW_MS)
        self._pre_roll_windows = max(1, int(settings.vad.pre_roll_ms / WINDOW_MS))
        self._listening_epoch = 0  # bumped by each listening reset: audio read before it is not the new utterance's
        self._reset_listening()
        self._resampler: Resampler | None = None
        self._turn_context: TurnContext | None = None
        self._intake: asyncio.Queue = asyncio.Queue(maxsize=INTAKE_LIMIT)
        self._intake_task: asyncio.Task | None = None
        self._warned_not_listening = False
        self._warned_typing_fast = False
        self._background: set[asyncio.Task] = set()
        self.lesson: LessonRun | None = None
        self.flags: deque[dict] = deque(maxlen=FLAGS_KEPT)
        self._silence_timer: asyncio.TimerHandle | None = None

    @property
    def activity(self) -> str:
        """What a dashboard shows: pairing, paused or stopped, else idle, listening, thinking or speaking."""
        return "pairing" if self.pairing_code is not None else self.held or self._activity

    @activity.setter
    def activity(self, activity: str) -> None:
        if activity != self._activity:
            self._activity = activity
            self.observer.changed(self)

    def _hold(self, held: str | None) -> None:
        self.held = held
        self.observer.changed(self)

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
            max_words=self.settings.llm.max_words,
            on_activity=self._set_activity,
            usage_refusal=lambda transcript: self.usage.refusal(self.device_id, transcript),
            respond=self._respond,
            guards=self.engines.guards,
            recall=self._recall,
        )
        self._default_speech = (self._turn_context.stt, self._turn_context.tts)
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

    async def start_lesson(self, run: LessonRun) -> None:
        """Switch to the lesson's language and voice, then say its opening (interrupting any reply).

        Raises ModelMissing, after telling the device, when the lesson's speech models cannot be had.
        """
        lesson = run.lesson
        try:
            stt, tts = await self.languages.get(lesson.language, lesson.voice)
        except ModelMissing as error:
            log.warning("lesson %s cannot start on %s: %s", lesson.id, self.device_id, error)
            # the device is told which models, not where they should be: paths and install hints go to the teacher
            message = (f"The lesson {lesson.title!r} cannot start: its speech models (language {lesson.language}, "
                       f"voice {lesson.voice or 'default'}) are not installed; the teacher's dashboard says how")
            await self.send(Alert(status="error", message=message, code="lesson_unavailable"))
            self._say(Plan([Say("I can't start that lesson yet. Please tell your teacher.")]))
            raise
        hints = tuple(word.word for word in lesson.vocabulary)
        self._turn_context = dataclasses.replace(self._turn_context, stt=stt, tts=tts, hints=hints,
                                                 apology=apology_in(lesson.language))
        self.lesson = run
        self.observer.lesson_changed(self)
        settings = lesson.device.model_dump(exclude_none=True)
        tools = self.device_tools()
        if settings and tools is not None:
            self.background(self._set_device(tools, settings), "lesson-device")
        if self.held is not None or self.pairing_code is not None:
            return  # it starts when the teacher resumes the device (or pairs it)
        self._say(Plan(run.start(), run, base=run))
        self._read_ahead([{"role": "system", "content": run.system_prompt()}, {"role": "user", "content": ""}])

    async def _set_device(self, tools: DeviceTools, settings: dict[str, object]) -> None:
        try:
            called = await tools.apply(settings, self.settings.device_tools)
        except ConnectionError:
            return  # the device went
        log.info("lesson settings on %s: %s", self.device_id, ", ".join(called) or "none of them")

    def end_lesson(self, quietly: bool = False) -> LessonRun | None:
        """The teacher ended the lesson: say its closing words (unless `quietly`); back to free talk."""
        run, self.lesson = self.lesson, None
        self._cancel_silence_timer()
        if run is not None and not run.finished and not quietly:
            self._say(Plan(run.stop()))  # the closing words in the lesson's voice; free talk after them in ours
        if run is not None:
            self._restore_default_speech()
            self.observer.lesson_changed(self)
        return run

    def _restore_default_speech(self) -> None:
        """Back to the server's language and voice once a lesson is over (a turn under way keeps its own)."""
        stt, tts = self._default_speech
        self._turn_context = dataclasses.replace(self._turn_context, stt=stt, tts=tts, hints=(), apology=FALLBACK)

    def control(self, command: str) -> None:
        """A teacher pauses, stops or resumes the device: any reply stops at once, then it says so in a few words.

        A paused or stopped device hears nothing until it is resumed; stopping also ends its lesson.
        An unpaired device is left saying its code.
        """
        if self.pairing_code is not None:
            return
        if command in HOLDS:
            if command == "stop":
                self.end_lesson(quietly=True)
            self._cancel_silence_timer()
            self._abort("teacher")
            self._hold(HOLDS[command])
        elif command == "resume" and self.held is not None:
            self._hold(None)
        else:
            return
        self.background(self.send(System(command=command)), "control")
        words = [Say(TEACHER_WORDS[command])]
        run = self.lesson
        if command == "resume" and run is not None and not run.finished:
            self._say(Plan([*words, *run.start()], run, base=run))
        else:
            self._say(Plan(words))

    def await_pairing(self, code: str) -> None:
        """An unpaired device: it shows and says the code a teacher types to pair it, and does nothing else."""
        self.pairing_code = code
        self.observer.changed(self)
        self.background(self.send(Pair(state="code", code=code)), "pairing")
        self._say(self._respond(""))

    def paired(self, token: str, name: str) -> None:
        """A teacher typed the code: the device keeps its token and can talk from now on."""
        self.pairing_code = None
        self.observer.changed(self)
        self.background(self.send(Pair(state="paired", token=token, name=name)), "pairing")

    def say(self, words: str) -> None:
        """Say a few fixed words now, unasked (interrupting any reply)."""
        self._say(Plan([Say(words)]))

    def background(self, coro: Awaitable[None], name: str) -> None:
        """Work of this session's that nothing waits for; cancelled when the device goes."""
        task = asyncio.create_task(coro, name=f"{name}-{self.session_id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        self._cancel_silence_timer()
        if self._intake_task:
            self._intake_task.cancel()
        for task in list(self._background):
            task.cancel()
        if self.turn:
            self.turn.cancel("disconnected")
            await asyncio.gather(self.turn.task, return_exceptions=True)

    # -- audio intake, in order ----------------------------------------------------------------

    async def _run_intake(self) -> None:
        while True:
            event, received_at = await self._intake.get()
            if isinstance(event, Listen):
                await self._on_listen(event, received_at)
            elif isinstance(event, SoundsFinished):
                self._commit_when_quiet_enough(event)
            else:
                await self._on_audio(event.data, received_at)

    async def _on_listen(self, event: Listen, received_at: float) -> None:
        if event.state == "start":
            if self.held is not None:
                await self.send(Alert(status="info", message=f"Your teacher {self.held} me for now.", code=self.held))
            self.mode = event.mode or "auto"
            self.listening = True
            if self.turn is not None and not self.turn.committed.is_set():
                self.turn.cancel("cancelled")  # the half-heard words before it are forgotten, and so is their verdict
                self.turn = None
            elif self._unsounded_answer() and not self.turn.flags:
                # a button before the reply began: the child asks afresh (a flagged turn plays, and its flag is kept)
                self._take_back("the device listens afresh")
            self._reset_listening()
        elif event.state == "detect":
            await self._on_detect(event.text or "", received_at)
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

    async def _on_detect(self, text: str, received_at: float) -> None:
        """A wake word: the device woke and will listen (nothing to answer). Other words: a typed question, answered
        at once as if the child had said it, in place of any reply under way."""
        words = " ".join(text.split())  # the guard reads through hidden and look-alike letters itself
        seen = unobfuscated(words)
        if not _bare(seen) or is_wake_word(seen, self.settings.wake_words):
            return
        if self.held is not None:
            await self.send(Alert(status="info", message=f"Your teacher {self.held} me for now.", code=self.held))
            return
        if not self.usage.may_type(self.device_id, received_at, TYPED_EVERY_S):
            if not self._warned_typing_fast:
                self._warned_typing_fast = True
                await self.send(Alert(status="warning", message="One question at a time, please!", code="too_fast"))
            return
        self._warned_typing_fast = False
        if len(words) > TYPED_LIMIT:
            words = words[:TYPED_LIMIT]
            await self.send(Alert(status="warning", message=f"That was a long one! I read the first {TYPED_LIMIT} "
                                  "characters.", code="too_long"))
        self._reset_listening()  # what the microphone half-heard before it is not part of this question
        self._speech_end_at = received_at
        self._start_turn(np.zeros(0, np.float32), None, cancel_running=True, heard_by=TypedWords(words)).commit()

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
        epoch = self._listening_epoch
        probs = await self.engines.vad_executor.run(self.session_id, self._vad_stream.speech_probs, windows)
        if epoch != self._listening_epoch:
            return  # listening was reset while the VAD ran (an abort, a turn that ended): this audio is not the new utterance's
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
            self._cancel_silence_timer()
            self._windows = deque(self._windows, maxlen=None)
            self.activity = "listening"
            if self.mode == "realtime" and self._busy():
                self._abort("barge-in")
        elif event == ep.PAUSE and not manual:
            self._begin_turn()
        elif event == ep.QUIET and not manual and self.pairing_code is None:  # unpaired: no model time spent
            turn = self.turn or self._begin_turn()
            if turn.end_score is None:  # asked once per silence, not at every gap between words
                heard = np.concatenate(list(self._windows))  # all of it: the model listens for how it ends
                turn.end_score = self.engines.turn_end.score(heard, self.device_id)
            self.background(self._judge_turn_end(turn), "turn-end")
        elif event == ep.RESUME and self.turn and not self.turn.committed.is_set():
            self.turn.cancel("cancelled")
            self.turn = None
        elif event == ep.RESUME and self._may_take_back():
            self._take_back("the child went on")
        elif event == ep.ENDPOINT and not manual:
            self._commit_on_silence(self.turn or self._begin_turn())
        elif event == ep.TOO_LONG and not (self._busy() and self.turn is self._committed_on_silence):  # heard whole
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
        """While answering, auto and manual modes ignore the microphone (auto only once its turn may no longer be
        taken back); realtime keeps listening. A paused or stopped device ignores it all."""
        return self.held is not None or (self._busy() and self.mode != "realtime" and not self._may_take_back())

    def _unsounded_answer(self) -> bool:
        """The turn is a committed answer to the child's words (spoken or typed) that has sent nothing yet."""
        turn = self.turn
        return (turn is not None and turn.committed.is_set() and turn.pcm is not None and not turn.audible
                and turn.outcome == "running")

    def _may_take_back(self) -> bool:
        """The turn was committed on a silence of this utterance shorter than the longest, which has not passed yet,
        and nothing of its reply has been sent: if the child goes on, the turn is taken back and the question heard
        whole. (An utterance cut at `max_utterance_s` is over.)"""
        heard = self.endpointer
        return (self._unsounded_answer() and self.turn is self._committed_on_silence and self.mode == "auto"
                and self.settings.vad.take_back and not heard.silence_over and not heard.too_long)

    def _take_back(self, why: str) -> None:
        log.info("turn %s/%d taken back before its reply began: %s", self.session_id, self.turn.number, why)
        self.metrics.turns.labels("taken_back").inc()
        self.turn.take_back()
        self.turn = None
        self.activity = "listening" if self.listening else "idle"
        self._arm_silence_timer()

    async def _judge_turn_end(self, turn: Turn) -> None:
        """After a short silence, answer at once if the child surely finished; if in doubt, after a longer silence
        (in proportion); else the endpoint waits the longest.

        The verdict joins the audio queue, so it is acted on only after the audio that came before it."""
        await turn.heard.wait()
        if not self._may_commit(turn):
            return
        if turn.words_reading is None:  # read once per turn: a silence broken by short noises asks again
            turn.words_reading = self.engines.turn_end.read(turn.transcript, self.device_id)
        doubt = await self.engines.turn_end.doubt(turn.transcript, turn.words_reading, turn.end_score)
        log.info("turn %s/%d: doubt %.2f that %r is finished", self.session_id, turn.number, doubt, redact(turn.transcript))
        if doubt < 1.0:
            try:
                self._intake.put_nowait((SoundsFinished(turn, doubt), TurnClock.now()))
            except asyncio.QueueFull:  # a flooded session waits for the longest silence instead
                pass

    def _commit_when_quiet_enough(self, verdict: SoundsFinished) -> None:
        if not self._may_commit(verdict.turn):
            return
        vad = self.settings.vad
        if self.endpointer.end_after(vad.quiet_ms + verdict.doubt * (vad.silence_ms - vad.quiet_ms)):
            self._commit_on_silence(verdict.turn)

    def _commit_on_silence(self, turn: Turn) -> None:
        turn.commit()
        self._committed_on_silence = turn
        self._listen_over_reply()

    def _may_commit(self, turn: Turn) -> bool:
        """`turn` is still the one being heard, and the child is still quiet."""
        current = self.turn is turn and turn.outcome == "running" and not turn.committed.is_set()
        return current and self.endpointer.quiet and self.held is None and self.mode != "manual"

    def _listen_over_reply(self) -> None:
        if self.mode == "realtime":
            self._reset_listening()

    def _begin_turn(self, replace: bool = False) -> Turn:
        pcm = np.concatenate(list(self._windows)) if self._windows else np.zeros(VAD_WINDOW, np.float32)
        return self._start_turn(pcm, None, cancel_running=replace)

    def _say(self, plan: Plan) -> None:
        """Speak without being asked (a lesson's opening, a nudge, an apology), interrupting any reply."""
        self._start_turn(None, plan, cancel_running=True).commit()

    def _start_turn(self, pcm: np.ndarray | None, plan: Plan | None, cancel_running: bool,
                    heard_by: TypedWords | None = None) -> Turn:
        self._cancel_silence_timer()
        if self.turn and (cancel_running or not self.turn.committed.is_set()):
            self.turn.cancel("aborted" if self.turn.committed.is_set() else "cancelled")
        self.turns_started += 1
        clock = TurnClock(speech_end=self._speech_end_at if pcm is not None else None)
        ctx = self._turn_context
        if heard_by is not None:
            ctx = dataclasses.replace(ctx, stt=heard_by)
        if self.pairing_code is not None:  # an unpaired device only ever says its code: nothing it says is heard
            ctx = dataclasses.replace(ctx, stt=NOT_LISTENING)
        turn = Turn(self.turns_started, pcm, clock, ctx, plan).start()
        turn.task.add_done_callback(lambda _task, turn=turn: self._turn_finished(turn))
        self.turn = turn
        return turn

    async def _recall(self, transcript: str) -> list[str]:
        """Facts for a free-chat question (a lesson brings its own), found while the guards screen it."""
        knowledge = self.engines.knowledge
        if knowledge is None or (self.lesson is not None and not self.lesson.finished) or self.pairing_code is not None:
            return []
        try:
            return [fact.fact for fact in await knowledge.recall(transcript)]
        except Exception:  # the child still gets an answer, from the model alone
            log.exception("knowledge lookup failed for %s", self.session_id)
            return []

    def _respond(self, transcript: str, facts: list[str] = ()) -> Plan | None:
        """In a lesson, the lesson's next actions (tried on a copy of the run); else a free chat reply.
        An unpaired device only ever says how to pair it."""
        if self.pairing_code is not None:
            digits = ". ".join(self.pairing_code)  # a clause a digit: said from FIXED_WORDS after the first few codes
            return Plan([Say(f"Hello! I'm Hootkit, an AI helper. A teacher needs to pair me first. My code is {digits}.")])
        if self.lesson is not None and not self.lesson.finished:
            run = self.lesson.fork()
            return Plan(run.heard(transcript), run, base=self.lesson)
        if not transcript:
            return None
        worked = worked_sum(transcript)  # a sum is worked out, not guessed
        if worked is not None:
            return Plan([Say(worked)])
        return Plan([Generate(self.conversation.messages(transcript, list(facts)))])

    def _arm_silence_timer(self) -> None:
        """In a lesson, a child who says nothing for a while is asked again (and the lesson moves on)."""
        self._cancel_silence_timer()
        if self.lesson is not None and not self.lesson.finished and self.settings.lesson_silence_s > 0:
            loop = asyncio.get_running_loop()
            self._silence_timer = loop.call_later(self.settings.lesson_silence_s, self._on_silence)

    def _on_silence(self) -> None:
        self._silence_timer = None
        lesson = self.lesson
        if self.turn is None and not self.endpointer.speech_started and lesson is not None and not lesson.finished:
            self._say(self._respond(""))

    def _cancel_silence_timer(self) -> None:
        if self._silence_timer is not None:
            self._silence_timer.cancel()
            self._silence_timer = None

    def _turn_finished(self, turn: Turn) -> None:
        typed = isinstance(turn.ctx.stt, TypedWords)  # typing costs the model time a spoken question would
        heard_s = TYPED_CHARGE_S if typed else len(turn.pcm) / STT_RATE if turn.pcm is not None else 0.0
        if typed and not turn.committed.is_set():
            self.usage.record(self.device_id, heard_s)  # taken back: the model's time was spent all the same
        if turn.committed.is_set():
            plan = turn.plan
            if plan is not None and plan.lesson is not None and plan.base is self.lesson and turn.outcome == "answered":
                # an interrupted or stale reply leaves the lesson where it was; the child answers again
                self.lesson = plan.lesson
                if self.lesson.finished:
                    self._restore_default_speech()
                self.observer.lesson_changed(self)
            self.usage.record(self.device_id, heard_s + turn.reply_s)
            self.metrics.turns.labels(turn.outcome).inc()
            if turn.outcome == "answered" and turn.pcm is not None:
                self.metrics.observe_turn(turn.clock.parts())
            log.info("turn %s/%d %s: %r -> %r %s", self.session_id, turn.number, turn.outcome,
                     redact(turn.transcript), redact(" ".join(turn.spoken)), turn.clock.parts())
            for flag in turn.flags:
                self.flags.append({"turn": turn.number, "stage": flag.stage, "verdict": flag.verdict,
                                   "category": flag.category, "text": redact(flag.text)})
                self.metrics.safety_flags.labels(flag.stage, flag.category, flag.verdict).inc()
                log.warning("safety flag %s/%d: %s %s %s on %r", self.session_id, turn.number, flag.stage,
                            flag.verdict, flag.category, redact(flag.text))
            self.observer.turn_finished(self, turn)
        if turn.forgot:
            self._read_ahead(self.conversation.messages(""))
        if self.turn is turn:
            self.turn = None
            if self.mode != "realtime":
                self._reset_listening()
            self.activity = "listening" if self.listening else "idle"
            self._arm_silence_timer()

    def _read_ahead(self, messages: list[dict]) -> None:
        """Let the LLM read a prompt's new prefix now, while the child listens or thinks, so the next
        answer only reads what follows it: after forgetting old turns, or when a lesson starts."""

        async def read() -> None:
            try:
                async with aclosing(self.engines.llm.stream(messages, self.session_id)) as pieces:
                    async for _ in pieces:
                        break  # the prompt is read once the first token comes; closing stops generating
            except BackendError as error:
                log.info("reading ahead for %s failed: %s", self.session_id, error)

        self.background(read(), "read-ahead")

    def _abort(self, reason: str) -> None:
        if self.turn is not None:
            log.info("abort %s/%d (%s)", self.session_id, self.turn.number, reason)
            self.turn.cancel("aborted" if self.turn.committed.is_set() else "cancelled")

    def _reset_listening(self) -> None:
        self._listening_epoch += 1
        self.endpointer.reset()
        self._windows: deque[np.ndarray] = deque(maxlen=self._pre_roll_windows)
        self._partial = np.zeros(0, np.float32)
        self._speech_end_at = None
        self._committed_on_silence: Turn | None = None  # a turn of this utterance's, which may be taken back
        self._vad_stream = self.engines.vad.new_stream()

    def _set_activity(self, activity: str) -> None:
        self.activity = activity
