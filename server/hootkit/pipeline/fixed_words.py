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
    again at the earliest PIN_RETRY_S later. Returns the task that pins (or pinned) it: its result says whether it
    did."""
    tasks = _PINNING.setdefault(tts, {})
    made = tasks.get(text)
    if made is not None:
        task, since = made
        failed = task.done() and (task.cancelled() or not task.result())
        if not failed or time.monotonic() - since < PIN_RETRY_S:
            return task
    task = asyncio.create_task(_pin_or_say_why(tts, text, tasks), name="pin")
    tasks[text] = (task, time.monotonic())
    return task


def pinned(task: asyncio.Task) -> bool:
    """Whether a `pin_later` task has pinned its words."""
    return task.done() and not task.cancelled() and task.result()


def cancel_pins(tts) -> None:
    """Stop pinning words in this voice (it is being closed)."""
    for task, _ in _PINNING.pop(tts, {}).values():
        task.cancel()


async def _pin_or_say_why(tts, text: str, tasks: dict) -> bool:
    try:
        await pin(tts, text)
        return True
    except Exception as error:  # caught here, so no finished task keeps a traceback holding the voice
        log.warning("could not keep %r in a voice (%s: %s)", text[:40], type(error).__name__, str(error))
        tasks[text] = (tasks[text][0], time.monotonic())  # the retry counts from the failure
        return False
