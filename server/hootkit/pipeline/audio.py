"""PCM16 conversion, streaming resampling and fixed-size framing. No I/O."""

import numpy as np
import soxr


def pcm16_to_float(data: bytes) -> np.ndarray:
    """Little-endian signed 16-bit mono bytes -> float32 in [-1, 1)."""
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()


class Resampler:
    """A streaming resampler; passes audio through untouched when the rates agree."""

    def __init__(self, in_rate: int, out_rate: int, dtype: str = "float32"):
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, dtype=dtype, quality="HQ")

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return samples
        return self._stream.resample_chunk(samples, last=last)


class Framer:
    """Cuts a stream of samples into equal frames; `flush` returns the rest, zero-padded."""

    def __init__(self, frame_samples: int, dtype=np.int16):
        self.frame_samples = frame_samples
        self._pending = np.zeros(0, dtype=dtype)

    def push(self, samples: np.ndarray) -> list[np.ndarray]:
        data = np.concatenate([self._pending, samples])
        count = len(data) // self.frame_samples
        frames = [data[i * self.frame_samples : (i + 1) * self.frame_samples] for i in range(count)]
        self._pending = data[count * self.frame_samples :]
        return frames

    def flush(self) -> list[np.ndarray]:
        if not len(self._pending):
            return []
        frame = np.zeros(self.frame_samples, dtype=self._pending.dtype)
        frame[: len(self._pending)] = self._pending
        self._pending = self._pending[:0]
        return [frame]
