"""Speech engines per lesson language and voice, loaded once on first use."""

import asyncio
from collections.abc import Callable
from typing import NamedTuple

from hootkit.engines import voices
from hootkit.engines.base import Stt, Tts
from hootkit.engines.registry import build_stt, build_tts
from hootkit.settings import Settings


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
        hears it even while the voice is down (the server's own voice keeps its apology at warm-up)."""
        from hootkit.pipeline.fixed_words import pin_later
        from hootkit.pipeline.turn import apology_in

        pin_later(tts, apology_in(language))

    def close(self) -> None:
        """Close the engines loaded here; the defaults belong to the server's Engines."""
        from hootkit.pipeline.fixed_words import cancel_pins

        for tts in set(self._tts.values()):
            cancel_pins(tts)  # an apology still being said must not outlive its voice
        for engine in {*self._stt.values(), *self._tts.values()} - set(self._defaults):
            if hasattr(engine, "close"):
                engine.close()
