"""Fake engines for unit tests of one stage: deterministic, instant, and steerable with events."""

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from hootkit.engines.base import STT_RATE, Transcript


class EnergyVadStream:
    """Loudness as speech probability: fine for synthetic tones, useless for real rooms."""

    def __init__(self, level: float):
        self._level = level

    def speech_probs(self, windows: np.ndarray) -> list[float]:
        rms = np.sqrt(np.mean(np.square(windows.reshape(-1, 512)), axis=1))
        return [1.0 if value > self._level else 0.0 for value in rms]


class EnergyVad:
    def __init__(self, level: float = 0.02):
        self.level = level

    def new_stream(self) -> EnergyVadStream:
        return EnergyVadStream(self.level)


class FakeStt:
    """Returns a fixed text for any audio that has sound; counts its calls."""

    def __init__(self, text: str = "how many legs does a spider have"):
        self.text = text
        self.calls = 0
        self.hints: list[str] = []

    async def transcribe(self, pcm: np.ndarray, key: str, hints=()) -> Transcript:
        self.calls += 1
        self.hints = list(hints)
        await asyncio.sleep(0)
        return Transcript(text=self.text, language="en", audio_s=len(pcm) / STT_RATE)


class FakeLlm:
    """Yields scripted pieces; with a `gate`, pieces from index `gate_after` on wait for it.

    The default gate_after=3 lets the first sentence complete (its clause ends when the next
    piece arrives) and holds the rest, so a test can act in the middle of a reply.
    """

    def __init__(self, pieces: list[str] | None = None, gate: asyncio.Event | None = None, gate_after: int = 3):
        self.pieces = pieces or ["A spider", " has eight legs.", " Can you", " count them?"]
        self.gate = gate
        self.gate_after = gate_after
        self.requests: list[list[dict]] = []
        self.closed = 0

    async def stream(self, messages: list[dict], key: str) -> AsyncIterator[str]:
        self.requests.append(messages)
        try:
            for index, piece in enumerate(self.pieces):
                if index >= self.gate_after and self.gate is not None:
                    await self.gate.wait()
                await asyncio.sleep(0)
                yield piece
        finally:
            self.closed += 1


class FakeTts:
    """A 440 Hz tone, 50 ms per word, at 22.05 kHz like the embedded voice."""

    sample_rate = 22050

    def __init__(self):
        self.texts: list[str] = []

    async def synthesize(self, text: str, key: str) -> AsyncIterator[np.ndarray]:
        self.texts.append(text)
        samples = int(self.sample_rate * 0.05 * max(1, len(text.split())))
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / self.sample_rate)
        await asyncio.sleep(0)
        yield (tone * 32767).astype(np.int16)
