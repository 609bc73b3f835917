"""Builds the engines named in settings, keeps them resident, and warms them up once."""

import asyncio
import logging
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hootkit.engines import models
from hootkit.engines.base import STT_RATE, VAD_WINDOW, BackendError, Llm, Stt, Tts, Vad
from hootkit.engines.executor import FairExecutor
from hootkit.engines.priority import SpeechFirst
from hootkit.pipeline.turn_end import TurnEndJudge
from hootkit.pipeline.turn_words import WEIGHTS as TURN_WORDS
from hootkit.pipeline.turn_words import TurnWords
from hootkit.settings import Settings

if TYPE_CHECKING:
    from hootkit.knowledge.index import KnowledgeIndex
    from hootkit.safety.moderator import Opinion

log = logging.getLogger(__name__)
HEALTH_TTL_S = 5.0  # how long an answer about the remote engines' health is reused


@dataclass
class Engines:
    """The four capabilities one server shares among all its devices, and the guards asked after the word lists."""

    vad: Vad
    stt: Stt
    llm: Llm
    tts: Tts
    guards: "list[Opinion]" = field(default_factory=list)
    knowledge: "KnowledgeIndex | None" = None
    turn_end: TurnEndJudge = field(default_factory=TurnEndJudge)
    vad_executor: FairExecutor = field(default_factory=lambda: FairExecutor("vad"))
    load_s: dict[str, float] = field(default_factory=dict)
    _health: "tuple[float, asyncio.Future[dict[str, str]]] | None" = field(default=None, init=False, repr=False)

    async def warmup(self, messages: list[dict]) -> dict[str, float | None]:
        """One small call through each engine so the first child pays for no lazy init; `messages`
        should start with the stable prompt prefix, which the LLM then keeps cached. The spoken apology is
        kept in FIXED_WORDS, so a child hears it even while the TTS is down. An engine behind a network that
        is down is logged (its time is None) and the server starts anyway: /healthz says what is down."""
        from hootkit.pipeline.fixed_words import pin
        from hootkit.pipeline.turn import FALLBACK

        async def transcribe() -> None:
            noise = (np.random.default_rng(0).standard_normal(STT_RATE) * 0.01).astype(np.float32)
            await self.stt.transcribe(noise, "warmup")

        async def think() -> None:
            async with aclosing(self.llm.stream(messages, "warmup")) as pieces:
                async for _ in pieces:
                    break

        async def speak() -> None:  # the apology is the TTS's warm-up
            await pin(self.tts, FALLBACK)

        timings: dict[str, float | None] = {}
        start = time.perf_counter()
        stream = self.vad.new_stream()
        await self.vad_executor.run("warmup", stream.speech_probs, np.zeros(VAD_WINDOW, np.float32))
        timings["vad"] = time.perf_counter() - start
        for name, step in (("stt", transcribe), ("llm", think), ("tts", speak)):
            start = time.perf_counter()
            try:
                await step()
                timings[name] = time.perf_counter() - start
            except BackendError as error:
                log.warning("warm-up: %s", error)
                timings[name] = None
        return timings

    async def health(self, timeout_s: float = 2.0) -> dict[str, str]:
        """For each engine behind a network (one with a `health` check): "ok", or what is wrong with it. Asked at
        most once per HEALTH_TTL_S, however often /healthz is called, so no client can flood the engines with it."""
        loop = asyncio.get_running_loop()
        if self._health is None or loop.time() - self._health[0] > HEALTH_TTL_S:
            self._health = (loop.time(), asyncio.ensure_future(self._ask_health(timeout_s)))
        return dict(await asyncio.shield(self._health[1]))

    async def _ask_health(self, timeout_s: float) -> dict[str, str]:
        remote = {name: engine for name in ("stt", "llm", "tts") if hasattr(engine := getattr(self, name), "health")}

        async def check(engine) -> str:
            try:
                await asyncio.wait_for(engine.health(), timeout_s)
            except BackendError as error:
                return error.brief
            except TimeoutError:
                return f"no answer within {timeout_s:g} s"
            return "ok"

        states = await asyncio.gather(*(check(engine) for engine in remote.values()))
        return dict(zip(remote, states))

    async def close(self) -> None:
        self.vad_executor.close()
        for engine in (self.stt, self.llm, self.tts, self.turn_end, *self.guards):
            if hasattr(engine, "aclose"):
                await engine.aclose()
            elif hasattr(engine, "close"):
                engine.close()


def load_engines(settings: Settings) -> Engines:
    """Load every engine named in settings; raises models.ModelMissing with an install hint."""
    load_s = {}

    def timed(name, build):
        start = time.perf_counter()
        engine = build()
        load_s[name] = time.perf_counter() - start
        log.info("loaded %s in %.2f s", name, load_s[name])
        return engine

    vad = timed("vad", build_vad)
    stt = timed("stt", lambda: build_stt(settings))
    priority = SpeechFirst()
    llm = timed("llm", lambda: build_llm(settings, priority))
    tts = timed("tts", lambda: build_tts(settings, priority))
    encoder = timed("sentence encoder", build_encoder)
    guards = timed("guards", lambda: build_guards(settings, encoder, llm))
    knowledge = timed("knowledge", lambda: build_knowledge(settings, encoder))
    turn_end = timed("end of turn", lambda: build_turn_end(settings, encoder))
    return Engines(vad=vad, stt=stt, llm=llm, tts=tts, guards=guards, knowledge=knowledge, turn_end=turn_end, load_s=load_s)


def build_turn_end(settings: Settings, encoder) -> TurnEndJudge:
    """The judge of "finished?": the transcript (with the turn-words model on `encoder`'s embeddings unless it
    is off), and the end-of-turn model unless it is off."""
    cfg = settings.vad
    words = None
    if cfg.turn_words_model != "off":
        words = TurnWords(encoder, models.resolve(cfg.turn_words_model, lambda: TURN_WORDS))
    if cfg.end_of_turn_model == "off":
        return TurnEndJudge(words=words, words_threshold=cfg.turn_words_threshold, words_sure=cfg.turn_words_sure)
    from hootkit.engines.end_of_turn import EndOfTurnModel, packaged_model

    path = models.resolve(cfg.end_of_turn_model, packaged_model)
    return TurnEndJudge(EndOfTurnModel(path), cfg.end_of_turn_threshold, words, cfg.turn_words_threshold,
                        cfg.turn_words_sure)


def build_encoder():
    """The multilingual sentence encoder the semantic guard and the knowledge base share."""
    from hootkit.safety.semantic import SentenceEncoder

    return SentenceEncoder()


def build_knowledge(settings: Settings, encoder) -> "KnowledgeIndex":
    """The knowledge base from the knowledge folders, embedded once; broken files are logged and skipped."""
    from hootkit.knowledge.facts import load_folders
    from hootkit.knowledge.index import KnowledgeIndex

    index = KnowledgeIndex(encoder, cache=models.cache_dir() / "knowledge-vectors.npz")
    for folder in [*settings.knowledge_dirs, settings.data_dir / "knowledge"]:
        facts, problems = load_folders(folder)
        for problem in problems:
            log.warning("knowledge: %s", problem)
        index.set_group(str(folder), facts)
    log.info("knowledge: %d facts", len(index))
    return index


def build_guards(settings: Settings, encoder=None, llm=None) -> "list[Opinion]":
    """The guards asked after the word lists, cheapest first: the semantic guard (teachers' examples, the
    trained head, and `llm` as the grey-zone judge when given and enabled), then the guard model if named."""
    cfg = settings.safety
    guards: list = []
    if cfg.semantic_stages:
        from hootkit.safety.examples import TeacherExamples
        from hootkit.safety.head import GuardHead, HeadError
        from hootkit.safety.judge import Judge
        from hootkit.safety.semantic import SemanticGuard

        head = GuardHead()
        encoder = encoder or build_encoder()
        if head.dimensions != encoder.dimensions:
            raise HeadError(f"the guard head reads {head.dimensions} numbers but the sentence encoder gives {encoder.dimensions}; "
                            "rebuild it with `hoot guard train`")
        examples = TeacherExamples(guard_examples_path(settings), encoder.encode)
        judge = Judge(llm, cfg.judge_timeout_s) if llm is not None and cfg.judge else None
        guards.append(SemanticGuard(stages=set(cfg.semantic_stages), head=head, encoder=encoder, examples=examples, judge=judge))
    if cfg.moderator_url:
        from hootkit.safety.moderator import Moderator

        guards.append(Moderator(cfg.moderator_url, cfg.moderator_model, cfg.moderator_api_key, cfg.moderator_timeout_s))
    return guards


def guard_examples_path(settings: Settings) -> Path:
    """Where teachers' guard examples are kept: beside the store."""
    return settings.data_dir / "guard_examples.jsonl"


def build_vad() -> Vad:
    from hootkit.engines.silero import SileroVad

    return SileroVad(models.silero_vad())


def build_stt(settings: Settings, language: str | None = None) -> Stt:
    """The configured STT; another `language` gets the multilingual model (Whisper base unless set).

    The embedded default is tiny.en for English, Whisper base for another language or "auto". A Wyoming
    server is asked for the language (it has the models it has).
    """
    cfg = settings.stt
    language = language or cfg.language
    if cfg.backend == "wyoming":
        from hootkit.engines.wyoming_speech import WyomingStt

        return WyomingStt(cfg.url, language, cfg.timeout_s)
    if cfg.backend == "openai":
        from hootkit.engines.openai_speech import OpenAiStt

        return OpenAiStt(cfg.url, cfg.remote_model, language, cfg.api_key, cfg.timeout_s)
    from hootkit.engines.whisper import WhisperStt

    if language == cfg.language:
        path = models.resolve(cfg.model, models.whisper_tiny_en if language == "en" else models.whisper_base)
    else:
        path = models.resolve(cfg.multilingual_model, models.whisper_base)
    return WhisperStt(
        path, language, cfg.compute_type, cfg.threads, cfg.beam_size, cfg.min_window_s, cfg.pad_s, cfg.languages
    )


def build_tts(settings: Settings, priority: SpeechFirst | None = None, voice: str | None = None) -> Tts:
    """The configured voice, or the piper voice named `voice`, fetched into the voices folder on first use
    (a remote server is asked for the voice by name; "embedded" is its default voice)."""
    from hootkit.engines import voices

    cfg = settings.tts
    name = voice or cfg.voice
    if cfg.backend == "wyoming":
        from hootkit.engines.wyoming_speech import WyomingTts

        return WyomingTts(cfg.url, None if name == "embedded" else name, cfg.timeout_s)
    if cfg.backend == "openai":
        from hootkit.engines.openai_speech import OpenAiTts

        return OpenAiTts(cfg.url, cfg.remote_model, "alloy" if name == "embedded" else name, cfg.api_key, cfg.timeout_s)
    from hootkit.engines.piper_tts import PiperTts

    if voice is None:
        path = models.resolve(settings.tts.voice, models.joe_voice)
    else:
        path = voices.fetch_voice(voice, voices.voices_folder(settings), settings.tts.voice_url)
    return PiperTts(path, settings.tts.length_scale, priority)


def build_llm(settings: Settings, priority: SpeechFirst | None = None) -> Llm:
    cfg = settings.llm
    if cfg.backend == "openai":
        from hootkit.engines.openai_chat import OpenAIChatLlm

        return OpenAIChatLlm(cfg.base_url, cfg.model, cfg.api_key, cfg.max_tokens, cfg.temperature, cfg.timeout_s)
    from hootkit.engines.llama import LlamaLlm

    return LlamaLlm(
        models.llm_gguf(cfg.model), cfg.context, cfg.threads, cfg.max_tokens, cfg.temperature,
        priority or SpeechFirst(),
    )


async def load_engines_async(settings: Settings) -> Engines:
    """Load off the event loop so /healthz can answer 503 while models load."""
    return await asyncio.to_thread(load_engines, settings)
