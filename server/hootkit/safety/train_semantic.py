"""Builds the semantic guard's memory from the red-team development set: `python -m hootkit.safety.train_semantic`.

Unsafe rows are labelled with the word lists' category where they name one (so "violence_self_harm"
splits into violence and self-harm, each with its own reply), else the set's own. Benign rows are
the development set's look-alikes, its everyday child talk, and every sentence of the curriculum's
lessons. The block threshold comes from five-fold cross-validation: the lowest one that blocks no
more than 2% of the benign child talk it did not hold. Deterministic: the same data gives the same file.
"""

import argparse
import json
import re
from pathlib import Path

import numpy as np

from hootkit.lessons.loader import load_lesson
from hootkit.safety.guard import check_input, check_output
from hootkit.safety.semantic import BENIGN, WEIGHTS, SentenceEncoder, neighbour_scores

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "safety" / "data"
LESSONS = ROOT / "curriculum" / "lessons"
FALSE_BLOCK_BUDGET = 0.02
UNSAFE = ("unsafe_prompts.jsonl", "more_unsafe.jsonl")
BENIGN_TALK = ("benign_prompts.jsonl", "more_benign.jsonl", "everyday.jsonl")
_SET_CATEGORY = {"violence_self_harm": "violence"}


def rows(path: Path) -> list[dict]:
    """One JSON Lines file of the red-team sets."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _lesson_sentences(folder: Path) -> list[str]:
    """Every string in the lessons a reply might sound like: at least three words, or Chinese."""
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


def examples(data: Path = DATA, lessons: Path = LESSONS) -> tuple[list[str], list[str], np.ndarray]:
    """(texts, labels, which rows are benign child talk) for the memory; lesson sentences are benign but no child's."""
    texts, labels = [], []
    for row in (row for name in UNSAFE for row in rows(data / name)):
        texts.append(row["text"])
        labels.append(check_input(row["text"]).category or _SET_CATEGORY.get(row["category"], row["category"]))
    for row in rows(data / "unsafe_replies.jsonl"):
        texts.append(row["text"])
        labels.append(check_output(row["text"]).category or _SET_CATEGORY.get(row["category"], row["category"]))
    talk = [row["text"] for name in BENIGN_TALK for row in rows(data / name)]
    sentences = _lesson_sentences(lessons)
    lookalike = np.array([False] * len(texts) + [True] * len(talk) + [False] * len(sentences))
    texts += talk + sentences
    labels += [BENIGN] * (len(talk) + len(sentences))
    return texts, labels, lookalike


def cross_validated_scores(memory: np.ndarray, unsafe: np.ndarray, folds: int = 5) -> np.ndarray:
    """Each row's unsafe score from a memory that does not hold it."""
    order = np.random.default_rng(0).permutation(len(unsafe))
    scores = np.empty(len(unsafe))
    for fold in range(folds):
        held = order[fold::folds]
        kept = np.setdiff1d(order, held)
        scores[held] = neighbour_scores(memory[held] @ memory[kept].T, unsafe[kept])[0]
    return scores


def train(data: Path = DATA, lessons: Path = LESSONS) -> dict:
    texts, labels, lookalike = examples(data, lessons)
    memory = SentenceEncoder().encode(texts)
    unsafe = np.array([label != BENIGN for label in labels])
    scores = cross_validated_scores(memory, unsafe)
    threshold = float(np.quantile(scores[lookalike], 1.0 - FALSE_BLOCK_BUDGET)) + 1e-6
    return {
        "memory": memory.astype(np.float32), "labels": np.array(labels), "threshold": np.float32(threshold),
        "cv_block_rate": np.float32((scores[unsafe] >= threshold).mean()),
        "cv_false_block_rate": np.float32((scores[lookalike] >= threshold).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--lessons", type=Path, default=LESSONS)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    model = train(args.data, args.lessons)
    np.savez(args.out, **model)
    print(f"{len(model['labels'])} rows, threshold {float(model['threshold']):.3f}; "
          f"cross-validated: {float(model['cv_block_rate']):.1%} of unsafe blocked, "
          f"{float(model['cv_false_block_rate']):.1%} of benign blocked -> {args.out}")


if __name__ == "__main__":
    main()
