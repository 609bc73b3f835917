"""piper text-to-speech, one chunk per sentence, run on its fair worker."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
from piper import PiperVoice, SynthesisConfig

from hootkit.engines.executor import FairExecutor
from hootkit.engines.priority import SpeechFirst


class PiperTts:
    """A resident piper voice; `sample_rate` is the voice's own (22.05 kHz for joe-medium)."""

    def __init__(self, voice_path: Path, length_scale: float, priority: SpeechFirst | None = None):
        self.priority = priority or SpeechFirst()
        self._voice = PiperVoice.load(str(voice_path))
        self._config = SynthesisConfig(length_scale=length_scale)
        self.sample_rate = self._voice.config.sample_rate
        self._executor = FairExecutor("tts")

    async def synthesize(self, text: str, key: str) -> AsyncIterator[np.ndarray]:
        async for chunk in self._executor.stream(key, lambda: self.synthesize_now(text)):
            yield chunk

    def synthesize_now(self, text: str) -> Iterator[np.ndarray]:
        with self.priority.speaking():
            for chunk in self._voice.synthesize(text, syn_config=self._config):
                yield chunk.audio_int16_array

    def close(self) -> None:
        self._executor.close()
