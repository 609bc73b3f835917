"""How long a teacher's login waits for its password check while the models fill every core (review L6).

Busy processes at the server's own priority stand in for the models (one per core, `--busy`). A password is
checked `--logins` times, one after another, on each lane the login route uses: the lowest CPU priority (an
address nobody logged in from lately) and the known-addresses lane (the server's own priority); then the same
with the cores idle. Prints a table (p50 / p95 ms per lane) and writes JSON (bench/results/login-priority.json).
Numbers, never pass/fail.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import time
from pathlib import Path

import numpy as np
from table import print_table

from hootkit.accounts import passwords


def burn() -> None:
    while True:
        pass


async def timed_checks(queue: passwords.HashingQueue, stored: str, logins: int) -> list[float]:
    times = []
    for _ in range(logins):
        started = time.perf_counter()
        await queue.run(passwords._hasher.verify, stored, "the right password")
        times.append((time.perf_counter() - started) * 1000)
    return times


async def measure(busy: int, logins: int) -> list[dict]:
    stored = await passwords.hash_password("the right password")
    lanes = {"lowest priority": passwords.HashingQueue(), "known address": passwords.HashingQueue(background=False)}
    rows = []
    for load in ("idle", f"{busy} busy processes"):
        burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(busy if load != "idle" else 0)]
        for burner in burners:
            burner.start()
        try:
            for lane, queue in lanes.items():
                times = await timed_checks(queue, stored, logins)
                rows.append({"cores": load, "lane": lane, "p50": round(float(np.percentile(times, 50)), 1),
                             "p95": round(float(np.percentile(times, 95)), 1), "logins": logins})
        finally:
            for burner in burners:
                burner.kill()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=os.cpu_count(), help="busy processes (default: one per core)")
    parser.add_argument("--logins", type=int, default=20)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.busy, args.logins))
    print_table(f"Password check while the cores are busy ({platform.processor() or platform.machine()}, "
                f"{os.cpu_count()} cores)", [("cores", "cores", 22), ("lane", "lane", 18), ("p50 ms", "p50", 10),
                                              ("p95 ms", "p95", 10)], rows)
    out = Path(__file__).parent / "results" / "login-priority.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "busy": args.busy, "cores": os.cpu_count()}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
