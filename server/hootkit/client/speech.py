"""Spoken test questions: piper (with pitch-raised, faster "child-like" variants) and espeak-ng voices."""

import io
import subprocess
import wave
from functools import lru_cache

import numpy as np
import soxr

from hootkit.engines import models


@lru_cache(maxsize=1)
def _voice():
    from piper import PiperVoice

    return PiperVoice.load(str(models.joe_voice()))


def piper_speech(text: str, rate: int = 16000, pitch: float = 1.0, length_scale: float = 1.0, steady: bool = False) -> np.ndarray:
    """float32 mono speech at `rate` in piper's joe voice. pitch > 1 raises pitch and tempo together;
    `steady` turns off piper's random prosody, so the same text always sounds the same."""
    from piper import SynthesisConfig

    voice = _voice()
    noise = {"noise_scale": 0.0, "noise_w_scale": 0.0} if steady else {}
    config = SynthesisConfig(length_scale=length_scale, **noise)
    audio = np.concatenate([chunk.audio_float_array for chunk in voice.synthesize(text, syn_config=config)])
    return soxr.resample(audio, voice.config.sample_rate * pitch, rate)


def speak(text: str, rate: int = 16000, pitch: float = 1.0, length_scale: float = 1.0, lead_s: float = 0.3) -> np.ndarray:
    """int16 mono speech at `rate` after `lead_s` of silence. pitch > 1 raises pitch and tempo together, like a smaller voice."""
    audio = piper_speech(text, rate, pitch, length_scale)
    lead = np.zeros(int(rate * lead_s), np.float32)
    return (np.concatenate([lead, audio]) * 0.8 * 32767).astype(np.int16)


def espeak_speech(text: str, voice: str, rate: int = 16000) -> np.ndarray:
    """float32 mono speech at `rate` from espeak-ng (apt-get install espeak-ng) in `voice`, e.g. "en-us+f3"."""
    command = ["espeak-ng", "-v", voice, "--stdout", "--stdin"]
    wav = subprocess.run(command, input=text.encode(), capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        source_rate = reader.getframerate()
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), np.int16).astype(np.float32) / 32768
    return soxr.resample(pcm, source_rate, rate)
