"""WAV in and out as int16 mono, and where the speech in a recording ends."""

import wave
from pathlib import Path

import numpy as np
import soxr


class WavError(ValueError):
    """A WAV file we cannot use, with the reason."""


def read_wav(path: Path, rate: int = 16000) -> np.ndarray:
    """Read a PCM WAV as int16 mono at `rate`, mixing down and resampling as needed."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, source_rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            data = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as error:
        raise WavError(f"{path}: not a PCM WAV file ({error})") from error
    if width != 2:
        raise WavError(f"{path}: {8 * width}-bit samples; only 16-bit PCM is supported")
    samples = np.frombuffer(data, dtype="<i2").reshape(-1, channels).astype(np.float32).mean(axis=1)
    if source_rate != rate:
        samples = soxr.resample(samples, source_rate, rate)
    return np.clip(samples, -32768, 32767).astype(np.int16)


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)


def last_voiced_sample(samples: np.ndarray, rate: int, window_ms: int = 10) -> int:
    """Index just past the last 10 ms window louder than 10% of the loudest one (0 if all silent)."""
    window = rate * window_ms // 1000
    count = len(samples) // window
    if count == 0:
        return 0
    frames = samples[: count * window].astype(np.float32).reshape(count, window)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.nonzero(rms > max(0.1 * rms.max(), 100.0))[0]
    return 0 if len(loud) == 0 else int((loud[-1] + 1) * window)
