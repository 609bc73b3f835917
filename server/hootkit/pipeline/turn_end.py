"""Has the child finished? Their words so far (dangling words, then the turn-words model), then a learned end-of-turn model on their voice."""

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
    """A turn is finished when its words do not dangle, the turn-words model (if any) reads them as finished,
    and the end-of-turn model (if any) agrees."""

    def __init__(self, model: TurnEndModel | None = None, threshold: float = 0.5,
                 words: TurnWords | None = None, words_threshold: float = 0.5):
        self.model = model
        self.threshold = threshold
        self.words = words
        self.words_threshold = words_threshold
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

    async def finished(self, transcript: str, reading: "asyncio.Future[float] | None",
                       score: "asyncio.Future[float] | None") -> bool:
        """`reading` from `read`, `score` from `score`, each asked once per turn. False also when a model could
        not answer: the longest silence then ends the turn."""
        if sounds_unfinished(transcript):
            return False
        try:
            if reading is not None and await reading < self.words_threshold:
                return False
            return score is None or await score >= self.threshold
        except Exception:
            log.warning("the end-of-turn judgement failed; waiting for the longest silence", exc_info=not self._failed_before)
            self._failed_before = True
            return False

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
