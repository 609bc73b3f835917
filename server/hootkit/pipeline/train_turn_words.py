"""Trains the turn-words model: `hoot turn-words train` writes `turn_words.json` from tests/turn_end/train.

Each line there is something a child says whole (finished), with the places a child might stop to think
in it; the words up to each such place are an unfinished example. Lines come from several authors' briefs,
never from the hearing sets of bench/hearing. Logistic regression over the sentence embedding and the word features,
L2, classes weighted equally, full-batch Adagrad for a fixed number of steps: the same data gives the same
file on one machine, and weights within 0.002 on another (the encoder's float rounding). Five folds grouped by line (a line's
pieces stay together) give the out-of-fold numbers it prints.
"""

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hootkit.pipeline.turn_words import FORMAT, PROBES, WEIGHTS, bare, features, probability, weights_digest

ROOT = Path(__file__).resolve().parents[3]
TRAIN = ROOT / "tests" / "turn_end" / "train"
MIN_COUNT = 2
L2 = 1e-4
STEPS = 400
RATE = 0.5
DECIMALS = 4
FOLDS = 5
FINAL_MARKS = "。？！?!.；;\"'” "


class TrainingDataMissing(FileNotFoundError):
    """No training files where they should be (an installed package has none: train from a source checkout)."""


def examples(folder: Path = TRAIN) -> tuple[list[str], np.ndarray, np.ndarray, str]:
    """(texts, labels 1 = finished, group of each text, sha256 of the data files).

    The words before a pause that children say as a whole line at least as often as they stop after them
    ("Yes," before "it is", "Is it" before "a mammal") are left out: they are not a sign of an unfinished
    sentence. "我" said whole once but stopped after twenty times stays unfinished. A line said the same way
    in two files is one group, so out-of-fold numbers never see it in training."""
    paths = sorted(folder.glob("*.jsonl"))
    if not paths:
        raise TrainingDataMissing(f"no training data in {folder}: train from a source checkout of hootkit")
    lines = []
    digest = hashlib.sha256()
    for path in paths:
        data = path.read_bytes().replace(b"\r\n", b"\n")  # the same on a checkout that converts line ends
        digest.update(path.name.encode() + b"\0" + data)
        lines += [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    whole = Counter(bare(row["text"]) for row in lines)
    stopped = Counter(bare(piece) for row in lines for piece in _pieces(row["text"].strip(), row["lang"], row.get("pauses", [])))
    group_of: dict[str, int] = {}
    texts, labels, groups = [], [], []
    for row in lines:
        text = row["text"].strip()
        group = group_of.setdefault(bare(text), len(group_of))
        pieces = [piece for piece in _pieces(text, row["lang"], row.get("pauses", []))
                  if whole[bare(piece)] < stopped[bare(piece)]]
        texts += [text, *pieces]
        labels += [1] + [0] * len(pieces)
        groups += [group] * (1 + len(pieces))
    return texts, np.array(labels), np.array(groups), digest.hexdigest()


def _pieces(text: str, lang: str, pauses: list[int]) -> list[str]:
    """The words before each pause: English counts words, Mandarin characters (final marks left off)."""
    if lang == "zh":
        characters = text.rstrip(FINAL_MARKS)
        return [characters[:at] for at in pauses if 0 < at < len(characters)]
    words = text.split()
    return [" ".join(words[:at]) for at in pauses if 0 < at < len(words)]


def _design(texts: list[str], vocabulary: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The sparse rows as (column of each feature present, the row it is in)."""
    columns, rows = [], []
    for row, text in enumerate(texts):
        present = [vocabulary[name] for name in features(text) if name in vocabulary]
        columns += present
        rows += [row] * len(present)
    return np.array(columns, dtype=np.int64), np.array(rows, dtype=np.int64)


def _vocabulary(texts: list[str]) -> dict[str, int]:
    counts = Counter(name for text in texts for name in features(text))
    return {name: index for index, name in enumerate(sorted(n for n, c in counts.items() if c >= MIN_COUNT))}


def _probabilities(columns: np.ndarray, rows: np.ndarray, embeddings: np.ndarray, model: "Model") -> np.ndarray:
    sparse = np.bincount(rows, weights=model.weights[columns], minlength=len(embeddings))
    return 1.0 / (1.0 + np.exp(-(model.bias + embeddings @ model.embedding_weights + sparse)))


@dataclass
class Model:
    vocabulary: dict[str, int]
    weights: np.ndarray
    embedding_weights: np.ndarray
    bias: float


def fit(texts: list[str], embeddings: np.ndarray, labels: np.ndarray) -> Model:
    """Weights for the embedding and for each word feature seen at least MIN_COUNT times, and the bias."""
    vocabulary = _vocabulary(texts)
    columns, rows = _design(texts, vocabulary)
    share = labels.mean()
    sample = np.where(labels == 1, 0.5 / share, 0.5 / (1 - share)) / len(labels)
    model = Model(vocabulary, np.zeros(len(vocabulary)), np.zeros(embeddings.shape[1]), 0.0)
    squared = [np.full(len(vocabulary), 1e-8), np.full(embeddings.shape[1], 1e-8), 1e-8]
    for _ in range(STEPS):
        residual = (_probabilities(columns, rows, embeddings, model) - labels) * sample
        gradients = [np.bincount(columns, weights=residual[rows], minlength=len(vocabulary)) + L2 * model.weights,
                     embeddings.T @ residual + L2 * model.embedding_weights, residual.sum()]
        squared = [total + gradient**2 for total, gradient in zip(squared, gradients)]
        steps = [RATE * gradient / np.sqrt(total) for gradient, total in zip(gradients, squared)]
        model.weights -= steps[0]
        model.embedding_weights -= steps[1]
        model.bias -= float(steps[2])
    return model


def out_of_fold(texts: list[str], embeddings: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """P(finished) for each text from a model that did not see its line."""
    scores = np.zeros(len(texts))
    fold_of = groups % FOLDS
    for fold in range(FOLDS):
        train, held = fold_of != fold, fold_of == fold
        model = fit([t for t, keep in zip(texts, train) if keep], embeddings[train], labels[train])
        columns, rows = _design([t for t, keep in zip(texts, held) if keep], model.vocabulary)
        scores[held] = _probabilities(columns, rows, embeddings[held], model)
    return scores


def embed(texts: list[str], encoder) -> np.ndarray:
    """The sentence encoder's embeddings (float64) of the texts without punctuation, in batches."""
    texts = [bare(text) for text in texts]
    return np.concatenate([encoder.encode(texts[i : i + 256]) for i in range(0, len(texts), 256)]).astype(np.float64)


def build(folder: Path = TRAIN, encoder=None) -> tuple[dict, tuple]:
    """The model file's contents, and (texts, embeddings, labels, groups) it was trained on."""
    texts, labels, groups, data_sha = examples(folder)
    if encoder is None:
        from hootkit.safety.semantic import SentenceEncoder

        encoder = SentenceEncoder()
    embeddings = embed(texts, encoder)
    model = fit(texts, embeddings, labels)
    stored = {name: round(float(model.weights[index]), DECIMALS) for name, index in model.vocabulary.items()}
    stored = {name: value for name, value in sorted(stored.items()) if value != 0.0}
    dense = [round(float(value), DECIMALS) for value in model.embedding_weights]
    bias = round(model.bias, DECIMALS)
    probe_embeddings = embed(list(PROBES), encoder)
    probes = {text: round(probability(bias, np.asarray(dense), stored, embedding, text), DECIMALS)
              for text, embedding in zip(PROBES, probe_embeddings)}
    spec = {"format": FORMAT, "data_sha256": data_sha, "rows": len(texts), "finished_rows": int(labels.sum()),
            "bias": bias, "embedding_weights": dense, "weights": stored, "probes": probes,
            "weights_sha256": weights_digest(bias, dense, stored, probes)}
    return spec, (texts, embeddings, labels, groups)


def main(out: Path = WEIGHTS, check: bool = False, encoder=None, report: bool = True) -> int:
    """Train (or with `check`, only compare with the file at `out`); with `report`, print out-of-fold numbers."""
    try:
        spec, (texts, embeddings, labels, groups) = build(encoder=encoder)
    except TrainingDataMissing as error:
        print(error)
        return 2
    if check:
        try:
            same = same_model(json.loads(out.read_text(encoding="utf-8")), spec)
        except (OSError, ValueError, TypeError, AttributeError):  # missing or damaged: it differs
            same = False
        print(f"{out}: {'matches' if same else 'differs from'} what the data trains ({spec['rows']} rows)")
        return 0 if same else 1
    if report:
        scores = out_of_fold(texts, embeddings, labels, groups)
        for threshold in (0.3, 0.5, 0.7):
            finished = (scores[labels == 1] >= threshold).mean()
            unfinished = (scores[labels == 0] < threshold).mean()
            print(f"out of fold, threshold {threshold}: finished judged finished {100 * finished:.1f} %, "
                  f"unfinished judged unfinished {100 * unfinished:.1f} %")
    out.write_text(json.dumps(spec, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out}: {len(spec['weights'])} word weights from {spec['rows']} rows ({spec['finished_rows']} finished)")
    return 0


def same_model(shipped: dict, trained: dict, tolerance: float = 2e-3) -> bool:
    """The same data, and every weight equal up to `tolerance` (another CPU's float rounding in the encoder);
    a word weight one side lacks counts as 0."""
    if shipped.get("data_sha256") != trained["data_sha256"]:
        return False
    theirs, ours = shipped.get("weights", {}), trained["weights"]
    words = all(abs(theirs.get(name, 0.0) - ours.get(name, 0.0)) <= tolerance for name in set(theirs) | set(ours))
    dense_theirs, dense_ours = shipped.get("embedding_weights", []), trained["embedding_weights"]
    dense = len(dense_theirs) == len(dense_ours) and np.allclose(dense_theirs, dense_ours, atol=tolerance)
    return words and dense and abs(shipped.get("bias", float("inf")) - trained["bias"]) <= tolerance
