"""Has the child finished, and how sure is that? Their words so far (dangling words, then the turn-words model), then a learned end-of-turn model on their voice."""

import asyncio
import logging
import re
from typing import Protocol

import numpy as np

from hootkit.engines.executor import FairExecutor
from hootkit.pipeline.turn_words import TurnWords

log = logging.getLogger(__name__)

# A last word that leaves a sentence hanging: "how many legs does a ...", "I think it's because ..."
DANGLING_EN = frozenset(
    "a an the and or but because if than my your his her its our their very really um uh er erm hmm whose let's".split()
)  # not prepositions or verbs: "what are they made of?", "yes I can" are finished
# Conjunctions, prepositions and fillers a Mandarin sentence does not end on.
DANGLING_ZH = (
    "和", "跟", "与", "或者", "因为", "所以", "但是", "可是", "然后", "而且", "如果", "那个", "这个",
    "嗯", "呃", "就是", "把", "被", "给", "从", "比", "还有", "一个", "的时候", "关于", "为了",
)
TRAILING_OFF = re.compile(r"(\.\.\.|…|[-–—,，、])\s*$")
WORD = re.compile(r"[A-Za-z']+")


class TurnEndModel(Protocol):
    def probability(self, pcm: np.ndarray) -> float: ...


def sounds_unfinished(text: str) -> bool:
    """True when the transcript trails off or ends on a word that needs more after it."""
    text = text.strip().replace("’", "'")
    if not text or TRAILING_OFF.search(text):
        return True
    bare = text.rstrip("。？！?!.；;\"'” ")
    if re.search(r"[\u4e00-\u9fff]$", bare):
        return bare.endswith(DANGLING_ZH) or (bare.endswith("是") and not bare.endswith("不是"))
    words = WORD.findall(bare.lower())
    return bool(words) and words[-1] in DANGLING_EN and not text.endswith("?")


class TurnEndJudge:
    """How sure is it that the child has finished? Sure when the words do not dangle, the turn-words model (if any)
    reads them as finished with at least `words_sure`, and the end-of-turn model (if any) agrees; in doubt when the
    words read between `words_threshold` and `words_sure`; unfinished below that."""

    def __init__(self, model: TurnEndModel | None = None, threshold: float = 0.5,
                 words: TurnWords | None = None, words_threshold: float = 0.5, words_sure: float | None = None):
        self.model = model
        self.threshold = threshold
        self.words = words
        self.words_threshold = words_threshold
        self.words_sure = max(words_threshold, words_sure if words_sure is not None else words_threshold)
        self._executor = FairExecutor("end-of-turn") if model is not None else None
        self._words_executor = FairExecutor("turn-words") if words is not None else None
        self._failed_before = False

    def score(self, pcm: np.ndarray, key: str) -> "asyncio.Future[float] | None":
        """Start the model on the speech so far (it takes a few hundred ms here, so it runs beside speech-to-text)."""
        if self._executor is None:
            return None
        return _started(self._executor.run(key, self.model.probability, pcm))

    def read(self, transcript: str, key: str) -> "asyncio.Future[float] | None":
        """Start the turn-words model on the transcript (an embedding: a few ms, on its own fair worker)."""
        if self._words_executor is None or sounds_unfinished(transcript):
            return None
        return _started(self._words_executor.run(key, self.words.probability, transcript))

    async def doubt(self, transcript: str, reading: "asyncio.Future[float] | None",
                    score: "asyncio.Future[float] | None") -> float:
        """0: finished, answer now; 1: unfinished, wait for the longest silence; in between, wait in proportion.
        `reading` from `read`, `score` from `score`, each asked once per turn. 1 also when a model could not answer."""
        if sounds_unfinished(transcript):
            return 1.0
        try:
            doubt = 0.0
            if reading is not None:
                doubt = self.words_doubt(await reading)
            if doubt < 1.0 and score is not None and not await score >= self.threshold:  # NaN: unsure
                doubt = 1.0
            return doubt
        except Exception:
            log.warning("the end-of-turn judgement failed; waiting for the longest silence", exc_info=not self._failed_before)
            self._failed_before = True
            return 1.0

    def words_doubt(self, probability: float) -> float:
        """The turn-words model's P(finished) as doubt: 1 below `words_threshold`, falling to 0 at `words_sure` (at or
        below the threshold: no graded wait)."""
        if not probability >= self.words_threshold:  # NaN too
            return 1.0
        if probability >= self.words_sure:
            return 0.0
        return (self.words_sure - probability) / (self.words_sure - self.words_threshold)

    def close(self) -> None:
        for executor in (self._executor, self._words_executor):
            if executor is not None:
                executor.close()


def _started(job) -> asyncio.Future:
    future = asyncio.ensure_future(job)
    future.add_done_callback(_read_outcome)  # a verdict nobody awaits must not log "never retrieved"
    return future


def _read_outcome(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()
