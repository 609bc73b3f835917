"""The trained guard head: a few small networks from a sentence embedding to a category and an unsafe score.

Each member is one hidden layer of ReLU units over the multilingual sentence encoder's embedding, then a
softmax over the classes; the head averages the members' probabilities. Trained by `hoot guard train`
(`train_head.py`) and shipped as reviewable JSON (`head.json`): the classes, the weights, per-category
thresholds calibrated on a development split, the grey band in which the judge is asked, and the sha256
of the data it was trained on.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hootkit.engines.models import read_spec

HEAD = Path(__file__).with_name("head.json")
FORMAT = "hootkit-guard-head/2"
LAYERS = ("hidden_weights", "hidden_bias", "weights", "bias")
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


def weights_digest(classes: list[str], thresholds: dict[str, float], grey_band: float, layers: list[np.ndarray]) -> str:
    """A checksum over everything the head reads (classes, thresholds, grey band, layers in LAYERS order), so a
    hand-edited or truncated file is noticed. Not a signature: whoever can write the file can recompute it."""
    canonical = json.dumps([classes, sorted(thresholds.items()), grey_band, [np.asarray(layer).tolist() for layer in layers]],
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    odds = np.exp(logits - logits.max(axis=1, keepdims=True))
    return odds / odds.sum(axis=1, keepdims=True)


def probabilities(layers: list[np.ndarray], embeddings: np.ndarray) -> np.ndarray:
    """The members' mean of softmax(W relu(H x + h) + b) per row: the class probabilities, as served and as calibrated.

    Each layer holds one array per member along its first axis."""
    hidden_weights, hidden_bias, weights, bias = layers
    return np.mean([softmax(np.maximum(embeddings @ hidden_weights[m].T + hidden_bias[m], 0.0) @ weights[m].T + bias[m])
                    for m in range(len(bias))], axis=0)


class GuardHead:
    """Loads `head.json` and reads embeddings: the class probabilities, then the per-category threshold."""

    def __init__(self, path: Path = HEAD):
        fix = f"rebuild it with `hoot guard train --out {path}`"
        spec = read_spec(path, "guard head", FORMAT, fix, HeadError)
        try:
            self.classes = [str(name) for name in spec["classes"]]
            stored = [np.asarray(spec[name], dtype=np.float64) for name in LAYERS]
            self.thresholds = {str(name): float(value) for name, value in spec["thresholds"].items()}
            self.grey_band = float(spec["grey_band"])
            digest = spec["weights_sha256"]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise HeadError(f"guard head {path} is incomplete ({error!r}); {fix}") from None
        hidden_weights, hidden_bias, weights, bias = stored
        if (hidden_weights.ndim != 3 or hidden_bias.shape != hidden_weights.shape[:2]
                or weights.shape != (len(hidden_weights), len(self.classes), hidden_weights.shape[1])
                or bias.shape != (len(hidden_weights), len(self.classes))
                or BENIGN not in self.classes or len(set(self.classes)) < max(2, len(self.classes))
                or set(self.thresholds) != set(self.classes) - {BENIGN}
                or not all(0.0 < value <= 1.0 for value in self.thresholds.values()) or not 0.0 <= self.grey_band < 1.0
                or not all(np.isfinite(layer).all() for layer in stored)):
            raise HeadError(f"guard head {path} has inconsistent shapes, classes or thresholds; {fix}")
        if weights_digest(self.classes, self.thresholds, self.grey_band, stored) != digest:
            raise HeadError(f"guard head {path} does not match its checksum (edited or damaged); {fix}")
        self.layers = [layer.astype(np.float32) for layer in stored]
        self.dimensions = hidden_weights.shape[2]
        self._benign = self.classes.index(BENIGN)
        self._unsafe = np.array([name != BENIGN for name in self.classes])

    def read(self, embeddings: np.ndarray) -> list[Reading]:
        """One reading per embedding (a row)."""
        readings = []
        for row in probabilities(self.layers, embeddings):
            category = self.classes[int(np.where(self._unsafe, row, -1.0).argmax())]
            score = float(1.0 - row[self._benign])
            threshold = self.thresholds[category]
            readings.append(Reading(score, category, threshold, abs(score - threshold) < self.grey_band))
        return readings
