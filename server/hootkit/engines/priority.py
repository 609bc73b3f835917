"""Speech first: while a clause is being synthesized, LLM generation waits between tokens.

On a 2-core machine the LLM streaming the rest of an answer slows the TTS of the clause a child is
waiting for by 2.4x (bench: 192 ms alone, 459 ms beside it). The LLM outruns speech by far, so
letting it pause costs no audio; it only moves CPU to where the latency is.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SpeechFirst:
    """A counter of clauses in synthesis that generation threads wait on."""

    def __init__(self):
        self._speaking = 0
        self._cond = threading.Condition()

    @contextmanager
    def speaking(self) -> Iterator[None]:
        with self._cond:
            self._speaking += 1
        try:
            yield
        finally:
            with self._cond:
                self._speaking -= 1
                self._cond.notify_all()

    def wait_for_quiet(self) -> None:
        """Block the calling (generation) thread until no clause is being synthesized."""
        with self._cond:
            self._cond.wait_for(lambda: self._speaking == 0)
