"""Do a child's words so far read like a finished utterance? A small logistic model over the sentence's
embedding and its first and last words.

The embedding is the multilingual sentence encoder the guard and the knowledge base already run. The words
are tokens: an English word, a number, or one Chinese character, so one model reads both languages and
code-switched talk. Punctuation is dropped: Whisper adds a question mark to half a question.
`hoot turn-words train` writes the weights (`turn_words.json`) from tests/turn_end/train.
"""

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from hootkit.engines.models import ModelMissing

FORMAT = "hootkit-turn-words-1"
WEIGHTS = Path(__file__).with_name("turn_words.json")
TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+|[\u4e00-\u9fff]")
LENGTHS = (1, 2, 3, 4, 6, 9, 13)


class TurnWordsError(ModelMissing):
    """The weights file is missing, damaged or of another format."""


def tokens(text: str) -> list[str]:
    """Lower-case words and Chinese characters; every number is "#" (Whisper writes "8" or "eight")."""
    return ["#" if token.isdigit() else token for token in TOKEN.findall(text.lower())]


def bare(text: str) -> str:
    """What the encoder reads: lower case, no punctuation (it reads "?" as a finished question)."""
    return " ".join(re.sub(r"[^\w\s']|_", " ", text.lower()).split())


def _length_bucket(count: int) -> int:
    return max(limit for limit in LENGTHS if limit <= count)


def features(text: str) -> list[str]:
    """Names of the features present: how the words end, how they begin, and how many there are."""
    words = tokens(text)
    if not words:
        return ["empty"]
    size = _length_bucket(len(words))
    first, last = words[0], words[-1]
    found = [f"n={size}", f"last={last}", f"last2={' '.join(words[-2:])}", f"last3={' '.join(words[-3:])}",
             f"first={first}", f"first2={' '.join(words[:2])}", f"first+last={first}|{last}", f"first+n={first}|{size}",
             f"last+n={last}|{size}"]
    return list(dict.fromkeys(found))  # a one-word text names the same n-gram twice


def weights_digest(bias: float, embedding_weights: list[float], weights: dict[str, float]) -> str:
    """A checksum over the numbers as stored, so a hand-edited or truncated file is noticed."""
    canonical = json.dumps([bias, embedding_weights, sorted(weights.items())], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


class TurnWords:
    """P(finished) for a transcript: sigmoid(bias + embedding . its weights + the weights of its word features);
    unknown word features weigh 0. Blocking: the embedding takes a few ms."""

    def __init__(self, encoder: Encoder, path: Path = WEIGHTS):
        self.encoder = encoder
        fix = f"rebuild it with `hoot turn-words train --out {path}`"
        try:
            spec = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TurnWordsError(f"turn-words model {path} is missing; {fix}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise TurnWordsError(f"turn-words model {path} is unreadable ({error}); {fix}") from None
        if not isinstance(spec, dict) or spec.get("format") != FORMAT:
            raise TurnWordsError(f"turn-words model {path} is not a {FORMAT} file; {fix}")
        try:
            self.bias = float(spec["bias"])
            embedding_weights = [float(value) for value in spec["embedding_weights"]]
            self.weights = {str(name): float(value) for name, value in spec["weights"].items()}
            digest = spec["weights_sha256"]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise TurnWordsError(f"turn-words model {path} is incomplete ({error!r}); {fix}") from None
        if not all(math.isfinite(value) for value in (self.bias, *embedding_weights, *self.weights.values())):
            raise TurnWordsError(f"turn-words model {path} holds a number that is not finite; {fix}")
        if weights_digest(self.bias, embedding_weights, self.weights) != digest:
            raise TurnWordsError(f"turn-words model {path} does not match its checksum (edited or damaged); {fix}")
        self.embedding_weights = np.asarray(embedding_weights, dtype=np.float32)

    def probability(self, text: str) -> float:
        (embedding,) = self.encoder.encode([bare(text)])
        if embedding.shape != self.embedding_weights.shape:
            raise TurnWordsError(f"the sentence encoder gives {embedding.shape[0]} numbers; this model reads "
                                 f"{self.embedding_weights.shape[0]}: retrain it with `hoot turn-words train`")
        logit = self.bias + float(embedding @ self.embedding_weights) + sum(self.weights.get(name, 0.0) for name in features(text))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))
