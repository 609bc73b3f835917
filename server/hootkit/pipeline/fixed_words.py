"""The audio of words Hootkit says as written (greetings, notices, pairing codes), kept after their first
synthesis, per voice: saying them again costs no model work, which matters most for a device that is not
paired yet, whose every utterance is answered with its code."""

import weakref
from collections import OrderedDict

import numpy as np

from hootkit.pipeline.clauses import ClauseSplitter

MAX_CLAUSES = 256  # per voice; a clause is a second or three of audio (tens of KB)


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
