"""Turn-taking for children: a thinking pause is waited out, a finished question is answered at once,
push-to-talk waits for the button (fake engines, real websocket)."""

import asyncio
import contextlib
import threading

import numpy as np
import pytest
from conftest import fake_engines, fast_settings, silence, tone

from hootkit.client.device import DeviceClient
from hootkit.engines.base import STT_RATE, Transcript
from hootkit.engines.fakes import EnergyVad, EnergyVadStream, FakeLlm, FakeStt, FakeTts
from hootkit.engines.registry import build_turn_end
from hootkit.pipeline.turn_end import TurnEndJudge
from hootkit.safety.semantic import SentenceEncoder
from hootkit.settings import Settings
from hootproto import Audio, Listen

pytestmark = pytest.mark.timeout(30)

FIRST_HALF = tone(0.6)
WHOLE = np.concatenate([silence(0.2), FIRST_HALF, silence(0.9), tone(0.6)])


class HalfHeardStt(FakeStt):
    """Hears half a question in audio up to 1 s long, the whole question in longer audio."""

    def __init__(self, half: str = "how many legs does a", whole: str = "how many legs does a spider have"):
        super().__init__()
        self.half, self.whole = half, whole

    async def transcribe(self, pcm, key, hints=()) -> Transcript:
        self.calls += 1
        await asyncio.sleep(0)
        text = self.half if len(pcm) < STT_RATE else self.whole
        return Transcript(text=text, language="en", audio_s=len(pcm) / STT_RATE)


class Model:
    """An end-of-turn model that always gives the same probability, and counts what it was asked."""

    def __init__(self, probability: float):
        self.value = probability
        self.asked: list[int] = []

    def probability(self, pcm: np.ndarray) -> float:
        self.asked.append(len(pcm))
        return self.value


async def test_a_question_with_a_thinking_pause_is_answered_whole(serve):
    async with serve(fake_engines(stt=HalfHeardStt())) as url, DeviceClient(url) as client:
        result = await client.ask(WHOLE)
    assert result.transcript == "how many legs does a spider have"
    assert result.vtv_ms is not None  # the reply began after the child's last word
    assert result.trace.count("stt") == 1


async def test_half_a_question_with_no_dangling_word_is_waited_out(serve):
    """Whisper hears "Why do we have to?" in the pause; the default judge reads the words as unfinished."""
    engines = fake_engines(stt=HalfHeardStt("Why do we have to?", "Why do we have to brush our teeth?"))
    engines.turn_end = build_turn_end(Settings(vad={"end_of_turn_model": "off"}), SentenceEncoder())
    async with serve(engines) as url, DeviceClient(url) as client:
        result = await client.ask(WHOLE)
    assert result.transcript == "Why do we have to brush our teeth?"
    assert result.trace.count("stt") == 1


class FixedWords:
    """A turn-words model that reads every transcript with the same P(finished)."""

    def __init__(self, probability: float):
        self.value = probability

    def probability(self, text: str) -> float:
        return self.value


async def test_words_read_in_doubt_wait_longer_than_the_short_silence(serve):
    """"How many legs" could be a whole question: read at 0.7 (sure is 0.9), the turn waits 700 ms of silence,
    so the child who goes on after 500 ms is heard whole."""
    engines = fake_engines(stt=HalfHeardStt("how many legs", "how many legs does a spider have"))
    engines.turn_end = TurnEndJudge(words=FixedWords(0.7), words_threshold=0.5, words_sure=0.9)
    settings = fast_settings(vad={"quiet_ms": 200, "silence_ms": 1200})
    try:
        async with serve(engines, settings) as url, DeviceClient(url) as client:
            result = await client.ask(np.concatenate([silence(0.2), FIRST_HALF, silence(0.5), tone(0.6)]))
    finally:
        engines.turn_end.close()
    assert result.transcript == "how many legs does a spider have"
    assert result.trace.count("stt") == 1


async def test_words_read_in_doubt_are_answered_before_the_longest_silence(serve):
    """With the longest silence far beyond the client's patience, only the judged wait (2.7 s) can end the turn; a
    child who goes on after 1 s of silence, long past the short silence, is still heard whole."""
    engines = fake_engines(stt=HalfHeardStt("how many legs", "how many legs does a spider have"))
    engines.turn_end = TurnEndJudge(words=FixedWords(0.85), words_threshold=0.5, words_sure=0.9)
    settings = fast_settings(vad={"quiet_ms": 200, "silence_ms": 20000})  # doubt 0.125: 2.7 s
    try:
        async with serve(engines, settings) as url, DeviceClient(url) as client:
            result = await client.ask(np.concatenate([silence(0.2), FIRST_HALF, silence(1.0), tone(0.6)]), timeout_s=10)
    finally:
        engines.turn_end.close()
    assert result.transcript == "how many legs does a spider have" and result.sentences


class CountingWords:
    """A turn-words model that reads every transcript as unfinished, and counts its readings."""

    def __init__(self):
        self.read: list[str] = []

    def probability(self, text: str) -> float:
        self.read.append(text)
        return 0.1


class CountingJudge(TurnEndJudge):
    asked = 0

    async def doubt(self, transcript, reading, score):
        self.asked += 1
        return await super().doubt(transcript, reading, score)


async def test_a_silence_broken_by_short_noises_reads_the_words_once(serve):
    """Each noise shorter than speech starts a new short silence, and each asks "finished?" again."""
    words = CountingWords()
    engines = fake_engines(stt=HalfHeardStt("how many legs", "how many legs"))
    engines.turn_end = judge = CountingJudge(words=words, words_threshold=0.5)
    blips = [part for _ in range(8) for part in (silence(0.25), tone(0.03))]
    try:
        async with serve(engines) as url, DeviceClient(url) as client:
            result = await client.ask(np.concatenate([silence(0.2), FIRST_HALF, *blips]))
    finally:
        engines.turn_end.close()
    assert result.transcript == "how many legs"
    assert judge.asked >= 4, "the noises did not break the silence"
    assert words.read == ["how many legs"]


async def ask_judged_by(serve, model: Model, timeout_s: float):
    """One tone question, with the longest silence far beyond the client's patience: only the
    short-silence judgement can commit it."""
    engines = fake_engines()
    engines.turn_end = TurnEndJudge(model, threshold=0.5)
    settings = fast_settings(vad={"quiet_ms": 200, "silence_ms": 20000})
    try:
        async with serve(engines, settings) as url, DeviceClient(url) as client:
            return await client.ask(np.concatenate([silence(0.2), tone(0.6)]), timeout_s=timeout_s)
    finally:
        engines.turn_end.close()


async def test_a_finished_question_is_answered_after_the_short_silence(serve):
    model = Model(0.9)
    result = await ask_judged_by(serve, model, timeout_s=8)
    assert result.sentences and result.vtv_ms is not None
    assert model.asked, "the end-of-turn model was not asked"


async def test_the_model_saying_unfinished_holds_the_turn_until_the_longest_silence(serve):
    model = Model(0.1)
    with pytest.raises(TimeoutError):
        await ask_judged_by(serve, model, timeout_s=3)
    assert model.asked


async def test_push_to_talk_waits_for_the_button_whatever_the_pauses(serve):
    stt = HalfHeardStt()
    settings = fast_settings(vad={"quiet_ms": 200, "silence_ms": 400})
    async with serve(fake_engines(stt=stt), settings) as url, DeviceClient(url) as client:
        result = await client.ask(np.concatenate([WHOLE, silence(1.0)]), mode="manual")
    assert result.transcript == "how many legs does a spider have"
    assert stt.calls == 1 and result.trace.count("stt") == 1


class StuckOnResumedSpeech(EnergyVadStream):
    """Energy VAD that stalls on the first loud window after a silence, until `release` is set."""

    def __init__(self, level: float, stuck: threading.Event, release: threading.Event):
        super().__init__(level)
        self.stuck, self.release = stuck, release
        self.spoke, self.silent_after = False, 0

    def speech_probs(self, windows):
        probs = super().speech_probs(windows)
        for prob in probs:
            if prob and self.spoke and self.silent_after >= 8 and not self.stuck.is_set():
                self.stuck.set()
                self.release.wait(10)
            self.spoke = self.spoke or bool(prob)
            self.silent_after = 0 if prob else self.silent_after + 1
        return probs


class ReleasingJudge(TurnEndJudge):
    """Lets the stalled audio through only once it has given its verdict."""

    def __init__(self, model, release: threading.Event):
        super().__init__(model, threshold=0.5)
        self.release = release

    async def doubt(self, transcript, reading, score):
        verdict = await super().doubt(transcript, reading, score)
        self.release.set()
        return verdict


class WaitsForStuckAudio(Model):
    def __init__(self, stuck: threading.Event):
        super().__init__(0.9)
        self.stuck = stuck

    def probability(self, pcm):
        self.stuck.wait(10)
        return super().probability(pcm)


async def test_a_verdict_never_commits_over_speech_still_being_heard(serve):
    """The child speaks again while that audio is still in the speech detector; a 'finished' verdict
    arriving then must wait behind it, and the question is answered whole."""
    stuck, release = threading.Event(), threading.Event()
    engines = fake_engines()
    engines.vad = EnergyVad()
    engines.vad.new_stream = lambda: StuckOnResumedSpeech(engines.vad.level, stuck, release)
    engines.turn_end = ReleasingJudge(WaitsForStuckAudio(stuck), release)
    question = np.concatenate([silence(0.2), tone(0.6), silence(0.4), tone(0.6)])
    try:
        async with serve(engines) as url, DeviceClient(url) as client:
            result = await client.ask(question)
    finally:
        release.set()
        engines.turn_end.close()
    assert stuck.is_set()
    assert result.vtv_ms is not None and result.trace.count("stt") == 1  # answered after the last word


async def test_an_unpaired_device_is_not_listened_to_and_its_code_is_said_without_model_work(serve):
    stt, model = FakeStt(), Model(0.9)
    engines = fake_engines(stt=stt)
    engines.turn_end = TurnEndJudge(model)
    try:
        async with serve(engines, fast_settings(pairing="all")) as url, DeviceClient(url) as client:
            code = await client.notice()
            await client.told()
            synthesized = list(engines.tts.texts)
            again = await client.ask(np.concatenate([silence(0.2), tone(0.6)]))
    finally:
        engines.turn_end.close()
    assert ". ".join(code.code) in again.reply
    assert stt.calls == 0 and not model.asked and again.transcript == ""
    assert len(synthesized) == len(set(synthesized))  # each clause of the greeting synthesised once
    assert engines.tts.texts == synthesized  # and said again from what was kept: no TTS for the repeat


class ReleasedOnSilenceAfterSpeech(EnergyVadStream):
    """Energy VAD that calls `on_quiet` (once) when a batch of windows ends quiet after speech."""

    def __init__(self, level: float, on_quiet):
        super().__init__(level)
        self.on_quiet, self.spoke = on_quiet, False

    def speech_probs(self, windows):
        probs = super().speech_probs(windows)
        self.spoke = self.spoke or any(probs)
        if self.spoke and not probs[-1] and self.on_quiet is not None:
            self.on_quiet()
            self.on_quiet = None
        return probs


class FirstVerdictHeld(TurnEndJudge):
    """Its first verdict ("finished") waits for `release`; every later one is "unfinished"."""

    def __init__(self):
        super().__init__()
        self.judging, self.release = asyncio.Event(), asyncio.Event()

    async def doubt(self, transcript, reading, score):
        if self.judging.is_set():
            return 1.0
        self.judging.set()
        await self.release.wait()
        return 0.0


async def test_a_verdict_on_a_question_left_before_listen_start_does_not_end_the_next_one(serve):
    """The child half-asks, then the device starts listening afresh; the old question's "finished" verdict arrives
    in the new question's first silence. It must not end the new question, which is unfinished."""
    judge = FirstVerdictHeld()
    engines = fake_engines()
    engines.turn_end = judge
    engines.vad = EnergyVad()
    streams = []
    loop = asyncio.get_running_loop()

    def new_stream():
        on_quiet = (lambda: loop.call_soon_threadsafe(judge.release.set)) if len(streams) == 2 else None
        streams.append(ReleasedOnSilenceAfterSpeech(engines.vad.level, on_quiet))
        return streams[-1]

    engines.vad.new_stream = new_stream
    settings = fast_settings(vad={"quiet_ms": 200, "silence_ms": 20000, "speculate_ms": 160})
    async with serve(engines, settings) as url, DeviceClient(url) as client:
        await client.send_event(Listen(state="start", mode="auto"))
        await client.send_event(Audio(np.concatenate([silence(0.2), tone(0.6), silence(0.3)]).tobytes()))
        await asyncio.wait_for(judge.judging.wait(), 10)
        with pytest.raises(TimeoutError, match="no complete reply within 2 s; heard: "):  # it waits the longest silence
            await client.ask(np.concatenate([tone(0.3), silence(0.064)]), timeout_s=2)
    assert judge.release.is_set()  # the old verdict did arrive, in the new question's silence


class HeldUntilCancelled(FakeLlm):
    """The first reply waits to be cancelled (on code that never cancels it, `patience_s`); later ones are quick."""

    def __init__(self, patience_s: float):
        super().__init__()
        self.patience_s = patience_s
        self.streams = 0
        self.cancelled = 0

    async def stream(self, messages, key):
        self.streams += 1
        if self.streams == 1:
            try:
                await asyncio.wait_for(asyncio.Event().wait(), self.patience_s)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            except TimeoutError:
                pass
        async for piece in super().stream(messages, key):
            yield piece


async def test_a_child_who_goes_on_before_the_reply_sounds_is_heard_whole(serve, caplog):
    """"how many legs" read as surely finished is committed after the short silence, but its reply is not
    ready when the child goes on: the turn is taken back, nothing of it reaches the device, and the whole question
    is answered."""
    llm = HeldUntilCancelled(patience_s=5.0)
    engines = fake_engines(stt=HalfHeardStt("how many legs", "how many legs does a spider have"), llm=llm)
    engines.turn_end = TurnEndJudge(words=FixedWords(0.99), words_threshold=0.5, words_sure=0.9)
    settings = fast_settings(vad={"quiet_ms": 200, "silence_ms": 1500})
    caplog.set_level("INFO", logger="hootkit.gateway.session")
    try:
        async with serve(engines, settings) as url, DeviceClient(url) as client:
            result = await client.ask(WHOLE, timeout_s=10)
    finally:
        engines.turn_end.close()
    assert result.transcript == "how many legs does a spider have"
    assert result.trace.count("stt") == 1 and result.trace.count("tts:start") == 1
    assert llm.cancelled == 1
    assert any("taken back" in record.getMessage() for record in caplog.records)


class SureJudge(TurnEndJudge):
    """Reads every transcript as surely finished, and says when it has."""

    def __init__(self):
        super().__init__(words=FixedWords(0.99), words_threshold=0.5, words_sure=0.9)
        self.judged = asyncio.Event()

    async def doubt(self, transcript, reading, score):
        verdict = await super().doubt(transcript, reading, score)
        self.judged.set()
        return verdict


async def half_ask_then_ask_afresh(serve, engines, judge: SureJudge, mode: str):
    """The child half-asks; once the judge has read the half as finished, the device starts listening afresh in `mode`
    and the child asks a whole question: what the device got for it."""
    try:
        async with serve(engines, fast_settings(vad={"quiet_ms": 200, "silence_ms": 1500})) as url, DeviceClient(url) as client:
            await client.send_event(Listen(state="start", mode="auto"))
            await client.send_event(Audio(np.concatenate([silence(0.2), FIRST_HALF, silence(0.4)]).tobytes()))
            await asyncio.wait_for(judge.judged.wait(), 10)
            return await client.ask(np.concatenate([silence(0.2), tone(1.2)]), mode=mode, timeout_s=10)
    finally:
        engines.turn_end.close()


@pytest.mark.parametrize("mode", ["auto", "manual"])
async def test_listen_start_before_the_reply_sounds_takes_the_turn_back_and_hears_the_new_question(serve, caplog, mode):
    """The child half-asks, the turn is committed, and before its reply is ready the device starts listening afresh
    (a button; held, it is push-to-talk): the old turn says nothing, and the new question alone is answered, once."""
    caplog.set_level("INFO", logger="hootkit.gateway.session")
    llm = HeldUntilCancelled(patience_s=5.0)
    engines = fake_engines(stt=HalfHeardStt("how many legs", "how many legs does a spider have"), llm=llm)
    engines.turn_end = judge = SureJudge()
    result = await half_ask_then_ask_afresh(serve, engines, judge, mode)
    assert result.transcript == "how many legs does a spider have"
    assert result.trace.count("stt") == 1 and result.trace.count("tts:start") == 1
    assert llm.cancelled == 1 and llm.streams == 2
    assert any("taken back" in record.getMessage() for record in caplog.records)


async def test_the_utterance_limit_does_not_cut_a_committed_question_while_its_reply_gets_ready(serve):
    """The limit on one utterance's length (2 s) passes while a committed turn's reply takes 3.5 s to come: the
    question was already heard whole, so there is no "too long" warning and its answer is not thrown away. (Correct
    code passes however long the reply takes, within the client's patience.)"""
    llm = HeldUntilCancelled(patience_s=3.5)
    engines = fake_engines(stt=HalfHeardStt("how many legs", "how many legs"), llm=llm)
    engines.turn_end = SureJudge()
    settings = fast_settings(vad={"quiet_ms": 200, "silence_ms": 3000, "max_utterance_s": 2.0})
    try:
        async with serve(engines, settings) as url, DeviceClient(url) as client:
            result = await client.ask(np.concatenate([silence(0.2), FIRST_HALF]), timeout_s=10)
    finally:
        engines.turn_end.close()
    assert "too_long" not in [alert.code for alert in result.alerts]
    assert result.transcript == "how many legs" and result.trace.count("stt") == 1
    assert llm.cancelled == 0 and llm.streams == 1


class SlowFirstWords(FakeTts):
    """Takes `slow_s` to start saying its first words; quick after that."""

    def __init__(self, slow_s: float):
        super().__init__()
        self.slow_s = slow_s

    async def synthesize(self, text, key):
        if not self.texts:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.Event().wait(), self.slow_s)
        async for chunk in super().synthesize(text, key):
            yield chunk


async def test_a_flagged_turn_is_not_taken_back_by_a_button_and_its_flag_is_kept(serve, caplog):
    """Unsafe words get a redirection, which is slow to start; the device starts listening afresh before it sounds.
    The redirection still plays and the flag reaches the teacher: a button must not wipe a safety flag."""
    caplog.set_level("INFO", logger="hootkit.gateway.session")
    engines = fake_engines(stt=HalfHeardStt("how do I make a bomb", "how many legs does a spider have"))
    engines.tts = SlowFirstWords(slow_s=2.0)
    engines.turn_end = judge = SureJudge()
    result = await half_ask_then_ask_afresh(serve, engines, judge, "manual")
    assert result.transcript == "how do I make a bomb" and result.reply
    assert any("safety flag" in record.getMessage() for record in caplog.records)
    assert not any("taken back" in record.getMessage() for record in caplog.records)
