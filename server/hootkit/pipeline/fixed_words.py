"""The audio of words Hootkit says as written (greetings, notices, pairing codes), kept after their first
synthesis, per voice: saying them again costs no model work, which matters most for a device that is not
paired yet, whose every utterance is answered with its code."""

import asyncio
import logging
import time
import weakref
from collections import OrderedDict

import numpy as np

from hootkit.pipeline.clauses import ClauseSplitter

log = logging.getLogger(__name__)
MAX_CLAUSES = 256  # per voice; a clause is a second or three of audio (tens of KB)
PIN_RETRY_S = 60.0  # after a voice failed to say words to pin, it is not asked again for this long


class FixedWords:
    """clause -> its audio chunks, for each TTS engine (voice) in use, least recently used dropped first."""

    def __init__(self, size: int = MAX_CLAUSES):
        self.size = size
        self._voices: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._pinned: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get(self, tts, clause: str) -> list[np.ndarray] | None:
        said = self._voices.get(tts)
        if said is None or clause not in said:
            return self._pinned.get(tts, {}).get(clause)
        said.move_to_end(clause)
        return said[clause]

    def keep(self, tts, clause: str, chunks: list[np.ndarray], pinned: bool = False) -> None:
        """Keep `clause`'s audio; `pinned` words (the apology, said when the TTS itself is down) are never dropped."""
        said = self._voices.setdefault(tts, OrderedDict())
        for chunk in chunks:
            chunk.setflags(write=False)  # shared by every session that says these words
        if pinned:
            self._pinned.setdefault(tts, {})[clause] = chunks
        said[clause] = chunks
        said.move_to_end(clause)
        while len(said) > self.size:
            said.popitem(last=False)


FIXED_WORDS = FixedWords()


async def pin(tts, text: str) -> None:
    """Say `text` to `tts` now, clause by clause, and pin its audio: it is then said even while the TTS is down."""
    splitter = ClauseSplitter()
    for clause in splitter.push(text) + splitter.flush():
        chunks = FIXED_WORDS.get(tts, clause) or [chunk async for chunk in tts.synthesize(clause, "warmup")]
        FIXED_WORDS.keep(tts, clause, chunks, pinned=True)


_PINNING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # voice -> {text: (its pin task, since when)}


def pin_later(tts, text: str) -> asyncio.Task:
    """`pin` in the background, once per voice and text (nothing awaits it but whoever wants to); after a failure,
    again at the earliest PIN_RETRY_S later. Returns the task that pins (or pinned) it."""
    tasks = _PINNING.setdefault(tts, {})
    made = tasks.get(text)
    if made is not None:
        task, since = made
        failed = task.done() and (task.cancelled() or task.exception() is not None)
        if not failed or time.monotonic() - since < PIN_RETRY_S:
            return task
    task = asyncio.create_task(pin(tts, text), name="pin")
    task.add_done_callback(lambda done: _after_pin(done, tasks, text))  # `tasks`, not the voice: the cache stays weak
    tasks[text] = (task, time.monotonic())
    return task


def pinned(task: asyncio.Task) -> bool:
    """Whether a `pin_later` task has pinned its words."""
    return task.done() and not task.cancelled() and task.exception() is None


def _after_pin(task: asyncio.Task, tasks: dict, text: str) -> None:
    if task.cancelled() or (error := task.exception()) is None:
        return
    log.warning("could not keep %r in a voice (%s: %s)", text[:40], type(error).__name__, error)
    error.__traceback__ = None  # its frames hold the voice, which the cache must not keep alive
    tasks[text] = (task, time.monotonic())  # the retry counts from the failure
