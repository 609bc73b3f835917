"""Facts by meaning: the multilingual sentence encoder embeds every fact once; a question gets its nearest facts."""

import asyncio
import logging
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from hootkit.knowledge.facts import Fact

log = logging.getLogger(__name__)

# Cosine similarity (USE multilingual v3) below which a fact is not about the question, and how far below
# the best a second fact may be: every fact costs the LLM ~20-25 ms a token to read before it answers
# (Qwen2.5 0.5B on 2 cores), so only the nearest one or two go into the prompt. Chosen on the development
# set of bench/answers.py.
MIN_SCORE = 0.40
TOP_K = 2
SECOND_WITHIN = 0.08
# Shared content words lift a fact: "the red planet" finds Mars, not Pluto (top-1 answer rate on the
# development set 111 -> 116 of 168).
WORDS_WEIGHT = 0.15
_STOP = frozenset(
    "a an the is are was were be do does did what why how who when where which whose can could would will shall "
    "you your i me my we our to of in on at for it its and or by from that this there with as have has had many "
    "much any some very kind get got make makes made tell about into out up than then".split()
)


def language_of(text: str) -> str:
    """zh when the text has Chinese characters, else en."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


class KnowledgeIndex:
    """Facts in named groups (a knowledge file, a lesson, a teacher's upload), searchable by meaning."""

    def __init__(self, encoder, min_score: float = MIN_SCORE, top_k: int = TOP_K, cache: Path | None = None):
        self.encoder = encoder
        self.min_score = min_score
        self.top_k = top_k
        self.cache = cache  # the vectors of the last start, so a restart embeds only what changed
        self._groups: dict[str, list[Fact]] = {}
        self._vectors: dict[str, np.ndarray] = self._load_cache()  # by the embedded text
        self._lock = threading.Lock()
        # one tuple, swapped whole, so a search in another thread never sees facts and vectors of two versions
        self._snapshot: tuple[list[Fact], np.ndarray, np.ndarray, list[frozenset]] = (
            [], np.zeros((0, 1), np.float32), np.zeros(0, "<U2"), []
        )
        self._counts: dict[str, int] = {}

    def set_group(self, group: str, facts: Iterable[Fact]) -> None:
        """Replace a group's facts (an empty list removes it); embeds the new texts at once (blocking)."""
        facts = list(facts)
        with self._lock:
            if facts:
                self._groups[group] = facts
            else:
                self._groups.pop(group, None)
            new = sorted({_text(fact) for fact in facts} - self._vectors.keys())
            for start in range(0, len(new), 64):
                batch = new[start:start + 64]
                for text, vector in zip(batch, self.encoder.encode(batch)):
                    self._vectors[text] = np.asarray(vector, np.float32)
            self._rebuild()
            if new:
                self._save_cache()

    def _load_cache(self) -> dict[str, np.ndarray]:
        if self.cache is None or not self.cache.is_file():
            return {}
        try:
            with np.load(self.cache, allow_pickle=False) as data:
                vectors = dict(zip((str(text) for text in data["texts"]), data["vectors"]))
            probe = np.asarray(self.encoder.encode(["probe"])[0])
            if any(vector.shape != probe.shape for vector in vectors.values()):
                raise ValueError("the vectors are of another encoder")
            return vectors
        except (OSError, ValueError, KeyError) as error:
            log.warning("knowledge: ignoring the vector cache %s: %s", self.cache, error)
            return {}

    def _save_cache(self) -> None:
        if self.cache is None or not self._vectors:
            return
        texts = sorted(self._vectors)
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        partial = self.cache.with_name(f"{self.cache.stem}.{os.getpid()}.part.npz")
        np.savez(partial, texts=np.array(texts), vectors=np.stack([self._vectors[text] for text in texts]))
        os.replace(partial, self.cache)

    def _rebuild(self) -> None:
        facts = [fact for group in self._groups.values() for fact in group]
        matrix = np.stack([self._vectors[_text(fact)] for fact in facts]) if facts else np.zeros((0, 1), np.float32)
        languages = np.array([fact.language for fact in facts], dtype="<U2")
        self._counts = {group: len(found) for group, found in self._groups.items()}
        self._snapshot = (facts, matrix, languages, [content_words(f"{fact.topic} {fact.fact}") for fact in facts])

    def __len__(self) -> int:
        return len(self._snapshot[0])

    def groups(self) -> dict[str, int]:
        return dict(self._counts)

    def search(self, question: str, language: str | None = None) -> list[tuple[Fact, float]]:
        """The facts nearest the question in its language, best first, above the relevance floor (blocking)."""
        facts, matrix, languages, words = self._snapshot
        if not facts or not question.strip():
            return []
        language = language or language_of(question)
        scores = matrix @ np.asarray(self.encoder.encode([question])[0], np.float32)
        asked = content_words(question)
        if asked:
            scores = scores + WORDS_WEIGHT * np.array([len(asked & known) / len(asked) for known in words], np.float32)
        scores = np.where(languages == language, scores, -1.0)
        best = np.argsort(-scores)[: self.top_k]
        floor = max(self.min_score, float(scores[best[0]]) - SECOND_WITHIN)
        return [(facts[i], float(scores[i])) for i in best if scores[i] >= floor]

    async def recall(self, question: str, language: str | None = None) -> list[Fact]:
        """The relevant facts for a question, off the event loop."""
        found = await asyncio.to_thread(self.search, question, language)
        return [fact for fact, _ in found]


def content_words(text: str) -> frozenset:
    """Words that carry meaning (English, without a plural s) or, for Chinese, pairs of characters."""
    text = text.lower()
    chinese = "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")
    if chinese:
        return frozenset(chinese[i:i + 2] for i in range(len(chinese) - 1))
    return frozenset(word.rstrip("s") for word in re.findall(r"[a-z]+", text) if len(word) > 2 and word not in _STOP)


def _text(fact: Fact) -> str:
    return f"{fact.topic}: {fact.fact}"
