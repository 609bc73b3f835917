"""The engine interfaces every backend implements, and the Transcript they share."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

STT_RATE = 16000
REMOTE_VOICE_RATE = 22050  # piper's medium voices: a remote voice's rate until its server can be asked
VAD_WINDOW = 512


class BackendError(RuntimeError):
    """An engine behind a network (or a crashed one) could not answer; the message says which, where and why (for
    the server's log and `hoot doctor`), `brief` only which and what (for devices, teachers and /healthz: no
    addresses, no error text from the engine)."""

    def __init__(self, message: str, brief: str = "an engine is not answering"):
        super().__init__(message)
        self.brief = brief


@dataclass(frozen=True)
class Transcript:
    """What the child said, as text."""

    text: str
    language: str
    audio_s: float


class VadStream(Protocol):
    """Speech probability for consecutive 512-sample windows of one audio stream at 16 kHz."""

    def speech_probs(self, windows: np.ndarray) -> list[float]: ...


class Vad(Protocol):
    def new_stream(self) -> VadStream: ...


class Stt(Protocol):
    async def transcribe(self, pcm: np.ndarray, key: str, hints: Sequence[str] = ()) -> Transcript:
        """`hints`: words the speaker is likely to say (a lesson's vocabulary)."""
        ...


class Llm(Protocol):
    async def stream(self, messages: list[dict], key: str) -> AsyncIterator[str]:
        """Yield reply text pieces as they are generated; closing the iterator stops generation."""
        ...


class Tts(Protocol):
    sample_rate: int

    def synthesize(self, text: str, key: str) -> AsyncIterator[np.ndarray]:
        """Yield int16 mono chunks at `sample_rate`."""
        ...


def rate_at_load(probe: Callable[[], Coroutine]) -> int:
    """The rate a remote voice speaks at, asked once at load (engines load in a thread, off the event loop);
    REMOTE_VOICE_RATE, with a warning, while its server does not answer."""
    try:
        return asyncio.run(probe())
    except BackendError as error:
        log.warning("%s; assuming %d Hz until it answers", error, REMOTE_VOICE_RATE)
        return REMOTE_VOICE_RATE
