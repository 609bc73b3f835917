"""Spoken test questions made with piper, including pitch-raised, faster "child-like" variants."""

from functools import lru_cache

import numpy as np
import soxr

from hootkit.engines import models


@lru_cache(maxsize=1)
def _voice():
    from piper import PiperVoice

    return PiperVoice.load(str(models.joe_voice()))


def speak(text: str, rate: int = 16000, pitch: float = 1.0, length_scale: float = 1.0, lead_s: float = 0.3) -> np.ndarray:
    """int16 mono speech at `rate`. pitch > 1 raises pitch and tempo together, like a smaller voice."""
    from piper import SynthesisConfig

    voice = _voice()
    config = SynthesisConfig(length_scale=length_scale)
    audio = np.concatenate([chunk.audio_float_array for chunk in voice.synthesize(text, syn_config=config)])
    source_rate = voice.config.sample_rate * pitch
    audio = soxr.resample(audio, source_rate, rate)
    lead = np.zeros(int(rate * lead_s), np.float32)
    return (np.concatenate([lead, audio]) * 0.8 * 32767).astype(np.int16)
