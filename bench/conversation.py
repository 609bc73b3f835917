"""A child's conversation, question after question on one connection: the server at `--base` (A) against this
working tree (B), in one run on this machine.

Each server runs as `hoot serve` with the embedded models (A's code from a git worktree of `--base`, through
PYTHONPATH). Each round opens one device connection per server and asks `--questions` questions in a row on it, the
child-like voices of bench/capacity.py, one server at a time (which goes first alternates by round). Per question
number it reports the median of the LLM's first token, of the first clause and of VTV (the client's: last voiced
sample sent -> first reply audio), so what history costs a later question shows. Prints a table and writes
bench/results/conversation.json.

    .venv/bin/python bench/conversation.py --base HEAD~1                  # 4 rounds x 6 questions
"""

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT / "tests"), str(ROOT / "tests" / "remote"), str(ROOT / "tests" / "store")]
from capacity import utterances  # noqa: E402
from remote_speech import stop, sweep_children  # noqa: E402
from table import print_table  # noqa: E402
from vtv import free_port, percentile, start_server  # noqa: E402

from hootkit.client.device import DeviceClient  # noqa: E402


async def conversation(url: str, pool: list, order: list[int]) -> list[dict]:
    rows = []
    async with DeviceClient(url) as client:
        for number, pick in enumerate(order):
            audio, end, text = pool[pick]
            turn = await client.ask(audio, speech_end=end, timeout_s=60)
            cut_off = turn.cut_off
            rows.append({"number": number, "question": text, "transcript": turn.transcript, "cut_off": cut_off,
                         "vtv_ms": None if cut_off else turn.vtv_ms, "parts": turn.parts})
            await asyncio.sleep(1.0)  # the reply has been heard; the child asks the next
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the git revision that A runs")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "conversation.json")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.out = args.out.resolve()
    os.chdir(ROOT)
    base = subprocess.run(["git", "rev-parse", "--verify", "--short", "--end-of-options", f"{args.base}^{{commit}}"],
                          capture_output=True, text=True, check=True).stdout.strip()
    pool = utterances()[::2]  # the whole questions (no thinking pause): cut-offs are not measured here
    rng = np.random.default_rng(7)
    rows: list[dict] = []
    with ExitStack() as cleanup:
        cleanup.callback(sweep_children)
        folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="conversation-")))
        tree = folder / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), base], check=True, capture_output=True)
        cleanup.callback(subprocess.run, ["git", "worktree", "remove", "--force", str(tree)], capture_output=True)
        urls = {}
        for name, path in (("A", f"{tree / 'server'}:{tree / 'protocol'}"), ("B", f"{ROOT / 'server'}:{ROOT / 'protocol'}")):
            port = free_port()
            process, ready = start_server(port, {"PYTHONPATH": path, "HOOT_STT__LANGUAGE": "en",
                                                 "HOOT_DATA_DIR": str(folder / name)})
            cleanup.callback(stop, process)
            urls[name] = f"ws://127.0.0.1:{port}/v1/device"
            print(f"{name} ({base if name == 'A' else 'working tree'}): ready in {ready:.1f} s, healthz "
                  f"{httpx.get(f'http://127.0.0.1:{port}/healthz').json().get('status')}", flush=True)
        for rnd in range(args.rounds):
            order = [int(pick) for pick in rng.permutation(len(pool))[: args.questions]]
            for name in (["A", "B"] if rnd % 2 == 0 else ["B", "A"]):
                for row in asyncio.run(conversation(urls[name], pool, order)):
                    rows.append({"server": name, "round": rnd, **row})
                    print(f"  {name} round {rnd} q{row['number']}: vtv {row['vtv_ms'] and round(row['vtv_ms'])} ms, "
                          f"llm 1st {row['parts'].get('llm_first_token')} ms, heard {row['transcript']!r}", flush=True)
    report(rows, base, args)


def report(rows: list[dict], base: str, args) -> None:
    table = []
    for number in range(args.questions):
        entry = {"number": number + 1}
        for name in ("A", "B"):
            mine = [row for row in rows if row["server"] == name and row["number"] == number]
            entry[f"{name}_llm"] = percentile([r["parts"]["llm_first_token"] for r in mine if "llm_first_token" in r["parts"]], 50)
            entry[f"{name}_clause"] = percentile([r["parts"]["first_clause"] for r in mine if "first_clause" in r["parts"]], 50)
            entry[f"{name}_vtv"] = percentile([r["vtv_ms"] for r in mine if r["vtv_ms"] is not None], 50)
        table.append(entry)
    overall = {"number": "all"}
    for name in ("A", "B"):
        mine = [row for row in rows if row["server"] == name]
        overall[f"{name}_llm"] = percentile([r["parts"]["llm_first_token"] for r in mine if "llm_first_token" in r["parts"]], 50)
        overall[f"{name}_clause"] = percentile([r["parts"]["first_clause"] for r in mine if "first_clause" in r["parts"]], 50)
        overall[f"{name}_vtv"] = percentile([r["vtv_ms"] for r in mine if r["vtv_ms"] is not None], 50)
    print()
    columns = [("question", "number", 9)] + [(f"{name} {part}", f"{name}_{part}", 11)
                                            for name in ("A", "B") for part in ("llm", "clause", "vtv")]
    print_table(f"medians in ms over {args.rounds} rounds (A: {base}, B: working tree)", columns, [*table, overall])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"base": base, "rounds": args.rounds, "questions": args.questions,
                                    "by_question": table, "overall": overall, "turns": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
