"""Speech engines per lesson language and voice, loaded once on first use."""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from hootkit.engines import voices
from hootkit.engines.base import Stt, Tts
from hootkit.engines.registry import build_stt, build_tts
from hootkit.settings import Settings

log = logging.getLogger(__name__)
APOLOGY_RETRY_S = 60.0  # after a voice failed to say the apology, it is not asked again for this long


class Builders(NamedTuple):
    """Blocking factories, run in a thread: stt(language) and tts(voice name)."""

    stt: Callable[[str], Stt]
    tts: Callable[[str], Tts]


class Languages:
    """Speech engines per lesson language: English is the server's default engines; others load on first use."""

    def __init__(self, settings: Settings, default_stt: Stt, default_tts: Tts, builders: Builders | None = None):
        self._defaults = (default_stt, default_tts)
        self._stt: dict[str, Stt] = {settings.stt.language: default_stt}
        if settings.stt.language == "auto":  # the default guesses among the classroom's languages
            self._stt.update(dict.fromkeys(settings.stt.languages, default_stt))
        default_voices = {None, "embedded", settings.tts.voice}
        if voices.is_embedded(settings.tts.voice):
            default_voices.add(voices.EMBEDDED)
        self._tts: dict[str | None, Tts] = dict.fromkeys(default_voices, default_tts)
        # lesson voices share the default voice's SpeechFirst, so the LLM yields to them too
        priority = getattr(default_tts, "priority", None)
        self.builders = builders or Builders(
            lambda language: build_stt(settings, language), lambda voice: build_tts(settings, priority, voice)
        )
        self._lock = asyncio.Lock()
        self._apologies: dict[tuple[str, int], tuple[asyncio.Task, float]] = {}  # (language, voice) -> keeping it

    async def get(self, language: str, voice: str | None = None) -> tuple[Stt, Tts]:
        """STT for `language` and TTS for `voice` (None: the default); raises ModelMissing or VoiceMissing."""
        if language not in self._stt or voice not in self._tts:
            async with self._lock:
                if language not in self._stt:
                    self._stt[language] = await asyncio.to_thread(self.builders.stt, language)
                if voice not in self._tts:
                    self._tts[voice] = await asyncio.to_thread(self.builders.tts, voice)
        tts = self._tts[voice]
        self._keep_apology(language, tts)
        return self._stt[language], tts

    def _keep_apology(self, language: str, tts: Tts) -> None:
        """Have this voice say the apology in this language, and keep it, in the background: a lesson's child then
        hears it even while the voice is down (the server's own voice keeps its apology at warm-up). Once per
        language and voice; after a failure, again at the earliest APOLOGY_RETRY_S later."""
        key = (language, id(tts))
        keeping = self._apologies.get(key)
        if keeping is not None:
            task, since = keeping
            if not task.done() or (not task.cancelled() and task.result()) or time.monotonic() - since < APOLOGY_RETRY_S:
                return
        task = asyncio.create_task(self._pin_apology(key, language, tts), name=f"apology-{language}")
        self._apologies[key] = (task, time.monotonic())

    async def _pin_apology(self, key: tuple[str, int], language: str, tts: Tts) -> bool:
        from hootkit.pipeline.fixed_words import pin
        from hootkit.pipeline.turn import apology_in

        try:
            await pin(tts, apology_in(language))
            return True
        except Exception:  # said live instead, if the voice works then; asked again a while after this failure
            log.warning("could not keep the %s apology in a lesson voice", language, exc_info=True)
            self._apologies[key] = (self._apologies[key][0], time.monotonic())
            return False

    async def kept(self) -> None:
        """Waits until the apologies being kept now are kept (or failed)."""
        await asyncio.gather(*(task for task, _ in self._apologies.values()), return_exceptions=True)

    def close(self) -> None:
        """Close the engines loaded here; the defaults belong to the server's Engines."""
        for task, _ in self._apologies.values():
            task.cancel()
        for engine in {*self._stt.values(), *self._tts.values()} - set(self._defaults):
            if hasattr(engine, "close"):
                engine.close()
