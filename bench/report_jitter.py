"""How much a teacher's report or export delays the event loop that paces every device's audio.

A school of `--devices` devices with `--turns` turns each (every `--flag-every`-th flagged) is written to a fresh
SQLite store. While a ticker task sleeps 5 ms again and again, the store builds a report over every device, then
the report as the route answers it (encoded a page of devices at a time; and, for comparison, encoded in one step
as FastAPI did with the dict the route returned before), then an export (read a page at a time, its CSV or JSON
made on a worker thread, as the export route does), then both at once. Each wake-up's lateness beyond 5 ms is a
gap: a device's 40 ms audio frames are late by as much.
Prints a table (gap p50 / p99 / max) and writes JSON (bench/results/report-jitter.json). Numbers, never pass/fail.
"""

import argparse
import asyncio
import gc
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "store"))
from store_helpers import crowd  # noqa: E402
from table import print_table  # noqa: E402

from fastapi.encoders import jsonable_encoder  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

from hootkit.dashboard.records_api import _export_body, reports_json  # noqa: E402
from hootkit.store.db import Store  # noqa: E402


class Pacing:
    """`async with Pacing() as pacing:` a task sleeps `tick_s` again and again meanwhile; `pacing.longest_s` is the
    longest the loop kept it waiting beyond that (what a device's audio pacing would have suffered).

    Objects alive before the block are frozen out of the garbage collector meanwhile: a full collection walks every
    object of the test process (a whole test run's worth), which says nothing about the code being measured.
    """

    def __init__(self, tick_s: float = 0.005):
        self.tick_s = tick_s
        self.gaps: list[float] = []

    @property
    def longest_s(self) -> float:
        return max(self.gaps, default=0.0)

    async def _tick(self) -> None:
        while True:
            self._last = time.perf_counter()
            await asyncio.sleep(self.tick_s)
            self.gaps.append(time.perf_counter() - self._last - self.tick_s)

    async def __aenter__(self) -> "Pacing":
        gc.collect()
        gc.freeze()
        self._last = time.perf_counter()
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)  # the ticker is running before the work starts
        return self

    async def __aexit__(self, *_exc) -> None:
        # a stall at the very end never wakes the ticker again: count the wait it is in now too
        self.gaps.append(time.perf_counter() - self._last - self.tick_s)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        finally:
            gc.unfreeze()


async def export(store: Store, ids: list[str], format: str) -> int:
    rows = await store.export_rows(ids)
    return len(await asyncio.to_thread(_export_body, rows, format))


async def report_answer(store: Store, ids: list[str]) -> int:
    """The report route's work: the report, then its answer encoded a page of devices at a time."""
    reports = await store.report(ids)
    return sum([len(chunk) async for chunk in reports_json(reports)])


async def report_answer_in_one_step(store: Store, ids: list[str]) -> int:
    """The report route before: the report returned as a dict, which FastAPI encodes in one step."""
    reports = await store.report(ids)
    return len(JSONResponse(jsonable_encoder({"reports": reports})).body)


async def measure(name: str, work) -> dict:
    started = time.perf_counter()
    async with Pacing(tick_s=0.005) as pacing:
        await work()
    gaps_ms = np.array(pacing.gaps) * 1000
    return {"work": name, "took_s": round(time.perf_counter() - started, 2), "ticks": len(gaps_ms),
            "p50_ms": round(float(np.percentile(gaps_ms, 50)), 1), "p99_ms": round(float(np.percentile(gaps_ms, 99)), 1),
            "max_ms": round(float(gaps_ms.max()), 1)}


async def main(args) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="hoot-bench-"))
    store = await Store.open(Store.url_for(folder))
    ids = await crowd(store, args.devices, args.turns, args.flag_every)
    results = []
    try:
        for _ in range(args.repeats):
            results.append(await measure("idle (nothing running)", lambda: asyncio.sleep(1.0)))
            results.append(await measure("report", lambda: store.report(ids)))
            results.append(await measure("report answer", lambda: report_answer(store, ids)))
            results.append(await measure("report answer (one step)", lambda: report_answer_in_one_step(store, ids)))
            results.append(await measure("export csv", lambda: export(store, ids, "csv")))
            results.append(await measure("export json", lambda: export(store, ids, "json")))
            results.append(await measure("report + export csv", lambda: asyncio.gather(
                store.report(ids), export(store, ids, "csv"))))
    finally:
        await store.close()
    worst: dict[str, dict] = {}
    for row in results:  # per kind of work, the repeat with the longest stall
        if row["work"] not in worst or row["max_ms"] > worst[row["work"]]["max_ms"]:
            worst[row["work"]] = row
    return {"devices": args.devices, "turns_each": args.turns, "flag_every": args.flag_every, "repeats": args.repeats,
            "tick_ms": 5, "cpus": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "runs": results, "worst_of_repeats": list(worst.values())}


def print_result(result: dict) -> None:
    print_table(f"event-loop gaps beyond a 5 ms tick: {result['devices']} devices x {result['turns_each']} turns "
                f"(worst of {result['repeats']} repeats, {result['cpus']} CPUs, SQLite {result['sqlite']})",
                [("work", "work", 24), ("took s", "took_s", 8), ("ticks", "ticks", 7), ("p50 ms", "p50_ms", 8),
                 ("p99 ms", "p99_ms", 8), ("max ms", "max_ms", 8)],
                result["worst_of_repeats"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--turns", type=int, default=10, help="turns per device")
    parser.add_argument("--flag-every", type=int, default=10, help="every n-th turn carries a safety flag")
    parser.add_argument("--repeats", type=int, default=3)
    result = asyncio.run(main(parser.parse_args()))
    print_result(result)
    out = Path(__file__).parent / "results" / "report-jitter.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
