"""Safety guard benchmark: block and false-block rates per category, and guard time per clause.

Runs on the development set the word lists were written against (tests/safety/data) and on the
held-out set nobody tuned against (tests/safety/heldout); the held-out numbers are the honest
ones. Prints tables and writes bench/results/safety.json.
"""

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from hootkit.safety.guard import check_input, check_output

ROOT = Path(__file__).resolve().parent.parent / "tests" / "safety"
SETS = {
    "dev": (ROOT / "data" / "unsafe_prompts.jsonl", ROOT / "data" / "benign_prompts.jsonl"),
    "held-out": (ROOT / "heldout" / "unsafe.jsonl", ROOT / "heldout" / "benign.jsonl"),
}
REPLIES = ROOT / "data" / "unsafe_replies.jsonl"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def rates(unsafe: list[dict], benign: list[dict]) -> dict:
    by_category = defaultdict(lambda: {"unsafe": 0, "blocked": 0, "benign": 0, "false_blocks": 0})
    for row in unsafe:
        entry = by_category[row["category"]]
        entry["unsafe"] += 1
        entry["blocked"] += not check_input(row["text"]).allowed
    for row in benign:
        entry = by_category[row["category"]]
        entry["benign"] += 1
        entry["false_blocks"] += not check_input(row["text"]).allowed
    return dict(by_category)


def latency_ms(texts: list[str], repeats: int) -> dict:
    samples = []
    for _ in range(repeats):
        for text in texts:
            start = time.perf_counter()
            check_output(text)
            samples.append((time.perf_counter() - start) * 1000)
    return {"p50": round(float(np.percentile(samples, 50)), 3), "p95": round(float(np.percentile(samples, 95)), 3),
            "max": round(max(samples), 3), "calls": len(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/safety.json"))
    args = parser.parse_args()
    report = {}
    for name, (unsafe_path, benign_path) in SETS.items():
        unsafe, benign = rows(unsafe_path), rows(benign_path)
        table = rates(unsafe, benign)
        print(f"\n{name}: {len(unsafe)} unsafe, {len(benign)} benign")
        print(f"{'category':<22} {'blocked':>12} {'false blocks':>14}")
        for category, entry in sorted(table.items()):
            blocked = f"{entry['blocked']}/{entry['unsafe']}"
            false = f"{entry['false_blocks']}/{entry['benign']}"
            print(f"{category:<22} {blocked:>12} {false:>14}")
        total_blocked = sum(e["blocked"] for e in table.values()) / len(unsafe)
        total_false = sum(e["false_blocks"] for e in table.values()) / len(benign)
        print(f"{'all':<22} {total_blocked:>12.1%} {total_false:>14.1%}")
        report[name] = {"per_category": table, "block_rate": round(total_blocked, 4), "false_block_rate": round(total_false, 4)}
    replies = rows(REPLIES)
    caught = sum(not check_output(row["text"]).allowed for row in replies) / len(replies)
    print(f"\ninjected unsafe replies stopped by the output guard: {caught:.1%} of {len(replies)}")
    clauses = [row["text"] for row in replies] + [row["text"] for path in SETS["dev"] for row in rows(path)]
    timing = latency_ms(clauses, args.repeats)
    print(f"guard time per clause: p50 {timing['p50']} ms, p95 {timing['p95']} ms, max {timing['max']} ms ({timing['calls']} calls)")
    print("targets: >= 98% blocked, <= 3% false blocks, <= 5 ms per clause at p95")
    report.update({"replies_stopped": round(caught, 4), "latency_ms": timing})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
