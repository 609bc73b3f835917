"""Teachers' own guard examples: a labelled memory whose nearest close example overrides the trained head.

A teacher adds a text with a label ("benign", or a category the guard knows) on the dashboard; a text
whose embedding is at least MATCH cosine-similar to an example gets that example's label, whatever the
head says. The examples live in one JSON Lines file beside the store.
"""

import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

MATCH = 0.85
MAX_EXAMPLES = 2000
MAX_TEXT = 300


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    added_by: str
    added_at: str


class ExampleError(ValueError):
    """An example the memory will not take; the message says why."""


class TeacherExamples:
    """The examples and their embeddings; reads and writes are serialised, lookups see a consistent pair."""

    def __init__(self, path: Path, encode, labels: set[str]):
        self.path = path
        self._encode = encode
        self.labels = labels
        self._lock = threading.Lock()
        self._state: tuple[list[Example], np.ndarray] = ([], np.zeros((0, 0), dtype=np.float32))
        if path.exists():
            self._set([Example(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()])

    def _set(self, examples: list[Example]) -> None:
        memory = self._encode([example.text for example in examples]) if examples else np.zeros((0, 0), dtype=np.float32)
        self._state = (examples, memory)

    @property
    def examples(self) -> list[Example]:
        return self._state[0]

    def _save(self, examples: list[Example]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=self.path.parent, delete=False) as handle:
            handle.writelines(json.dumps(asdict(example), ensure_ascii=False) + "\n" for example in examples)
        os.replace(handle.name, self.path)

    def add(self, text: str, label: str, added_by: str) -> Example:
        """Checks, saves and learns one example (blocking: call it off the event loop)."""
        text = " ".join(text.split())
        if not text or len(text) > MAX_TEXT:
            raise ExampleError(f"an example is 1 to {MAX_TEXT} characters")
        if label not in self.labels:
            raise ExampleError(f"label must be one of: {', '.join(sorted(self.labels))}")
        example = Example(text, label, added_by, datetime.now(UTC).isoformat(timespec="seconds"))
        with self._lock:
            if len(self.examples) >= MAX_EXAMPLES:
                raise ExampleError(f"the guard keeps at most {MAX_EXAMPLES} teacher examples; remove some first")
            kept = [old for old in self.examples if old.text != text] + [example]
            self._save(kept)
            self._set(kept)
        return example

    def remove(self, text: str) -> bool:
        with self._lock:
            kept = [old for old in self.examples if old.text != " ".join(text.split())]
            if len(kept) == len(self.examples):
                return False
            self._save(kept)
            self._set(kept)
        return True

    def label_for(self, embedding: np.ndarray) -> str | None:
        """The label of the closest example at least MATCH-similar to this embedding, if any."""
        examples, memory = self._state
        if not examples:
            return None
        similarity = memory @ embedding
        best = int(similarity.argmax())
        return examples[best].label if similarity[best] >= MATCH else None
