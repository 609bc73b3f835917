"""Teachers' own guard examples: a labelled memory whose nearest close example overrides the trained head.

A teacher adds a text with a label ("benign", or a category the guard knows) on the dashboard; a text
whose embedding is at least MATCH cosine-similar to an example gets that example's label, whatever the
head says. The examples live in one JSON Lines file beside the store.
"""

import json
import logging
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from hootkit.safety.head import BENIGN
from hootkit.safety.lexicon import INPUT, REPLY_ONLY

# What a teacher may label an example: every category the guard knows, whichever the head was trained on.
LABELS = frozenset({BENIGN, *INPUT, *REPLY_ONLY})

log = logging.getLogger(__name__)

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


def _read(path: Path) -> list[Example]:
    """The saved examples; a damaged line is logged and skipped, so the server still starts."""
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            examples.append(Example(**json.loads(line)))
        except (ValueError, TypeError) as error:
            log.warning("%s line %d is not a guard example (%s); skipped", path, number, error)
    return examples


class TeacherExamples:
    """The examples and their embeddings; reads and writes are serialised, lookups see a consistent pair."""

    def __init__(self, path: Path, encode, labels: frozenset[str] = LABELS):
        self.path = path
        self._encode = encode
        self.labels = labels
        self._lock = threading.Lock()
        self._state: tuple[list[Example], np.ndarray] = ([], np.zeros((0, 0), dtype=np.float32))
        if path.exists():
            examples = _read(path)
            if examples:
                self._state = (examples, self._encode([example.text for example in examples]))

    @property
    def examples(self) -> list[Example]:
        return self._state[0]

    def find(self, text: str) -> Example | None:
        """The example with this text (spaces as `add` keeps them), if any."""
        text = " ".join(text.split())
        return next((example for example in self.examples if example.text == text), None)

    def _save(self, examples: list[Example]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=self.path.parent, delete=False) as handle:
            try:
                handle.writelines(json.dumps(asdict(example), ensure_ascii=False) + "\n" for example in examples)
                handle.flush()
                os.fsync(handle.fileno())
            except BaseException:
                os.unlink(handle.name)
                raise
        os.replace(handle.name, self.path)

    def add(self, text: str, label: str, added_by: str) -> Example:
        """Checks, saves and learns one example (blocking: call it off the event loop)."""
        text = " ".join(text.split())
        if not text or len(text) > MAX_TEXT:
            raise ExampleError(f"an example is 1 to {MAX_TEXT} characters")
        if label not in self.labels:
            raise ExampleError(f"label must be one of: {', '.join(sorted(self.labels))}")
        example = Example(text, label, added_by, datetime.now(UTC).isoformat(timespec="seconds"))
        vector = self._encode([text])  # only the new text, before the lock
        with self._lock:
            examples, memory = self._state
            if len(examples) >= MAX_EXAMPLES:
                raise ExampleError(f"the guard keeps at most {MAX_EXAMPLES} teacher examples; remove some first")
            keep = [index for index, old in enumerate(examples) if old.text != text]
            kept = [examples[index] for index in keep] + [example]
            self._save(kept)
            self._state = (kept, np.vstack([memory[keep], vector]) if keep else vector)
        return example

    def remove(self, text: str) -> bool:
        text = " ".join(text.split())
        with self._lock:
            examples, memory = self._state
            keep = [index for index, old in enumerate(examples) if old.text != text]
            if len(keep) == len(examples):
                return False
            kept = [examples[index] for index in keep]
            self._save(kept)
            self._state = (kept, memory[keep])
        return True

    def label_for(self, embedding: np.ndarray) -> str | None:
        """The label of the closest example at least MATCH-similar to this embedding, if any."""
        examples, memory = self._state
        if not examples:
            return None
        similarity = memory @ embedding
        best = int(similarity.argmax())
        return examples[best].label if similarity[best] >= MATCH else None
