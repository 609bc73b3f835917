"""The trained guard head: one matrix multiply from a sentence embedding to a category and an unsafe score.

A multinomial logistic regression over the multilingual sentence encoder's embeddings, trained by
`hoot guard train` (`train_head.py`) and shipped as reviewable JSON (`head.json`): the classes, the
weights, per-category thresholds calibrated on a development split, the grey band in which the judge
is asked, and the sha256 of the data it was trained on.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hootkit.engines.models import read_spec

HEAD = Path(__file__).with_name("head.json")
FORMAT = "hootkit-guard-head/1"
BENIGN = "benign"


class HeadError(ValueError):
    """The head file is missing, corrupt or of another format; the message says which and how to fix it."""


@dataclass(frozen=True)
class Reading:
    """The head's view of one text: how unsafe (1 - p(benign)), its likeliest unsafe category, and the verdict."""

    score: float
    category: str
    threshold: float
    grey: bool

    @property
    def unsafe(self) -> bool:
        return self.score >= self.threshold


def weights_digest(weights: np.ndarray, bias: np.ndarray) -> str:
    """A checksum over the numbers as they are stored, so a hand-edited or truncated file is noticed."""
    canonical = json.dumps([weights.tolist(), bias.tolist()], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class GuardHead:
    """Loads `head.json` and reads embeddings: softmax(W x + b), then the per-category threshold."""

    def __init__(self, path: Path = HEAD):
        fix = f"rebuild it with `hoot guard train --out {path}`"
        spec = read_spec(path, "guard head", FORMAT, fix, HeadError)
        try:
            self.classes = [str(name) for name in spec["classes"]]
            self.weights = np.asarray(spec["weights"], dtype=np.float32)
            self.bias = np.asarray(spec["bias"], dtype=np.float32)
            self.thresholds = {str(name): float(value) for name, value in spec["thresholds"].items()}
            self.grey_band = float(spec["grey_band"])
            digest = spec["weights_sha256"]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise HeadError(f"guard head {path} is incomplete ({error!r}); {fix}") from None
        if (self.weights.ndim != 2 or self.weights.shape[0] != len(self.classes) or self.bias.shape != (len(self.classes),)
                or BENIGN not in self.classes or set(self.thresholds) != set(self.classes) - {BENIGN}
                or not np.isfinite(self.weights).all()):
            raise HeadError(f"guard head {path} has inconsistent shapes or classes; {fix}")
        if weights_digest(np.asarray(spec["weights"]), np.asarray(spec["bias"])) != digest:
            raise HeadError(f"guard head {path} does not match its checksum (edited or damaged); {fix}")
        self.dimensions = self.weights.shape[1]
        self._benign = self.classes.index(BENIGN)
        self._unsafe = np.array([name != BENIGN for name in self.classes])

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        return odds / odds.sum(axis=1, keepdims=True)

    def read(self, embeddings: np.ndarray) -> list[Reading]:
        """One reading per embedding (a row)."""
        readings = []
        for row in self.probabilities(embeddings):
            category = self.classes[int(np.where(self._unsafe, row, -1.0).argmax())]
            score = float(1.0 - row[self._benign])
            threshold = self.thresholds[category]
            readings.append(Reading(score, category, threshold, abs(score - threshold) < self.grey_band))
        return readings
