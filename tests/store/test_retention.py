"""The retention job purges at start and then every period, reading the retention days each time."""

import asyncio

from hootkit.store.retention import retention_loop


class CountingStore:
    """Records each purge; `wanted` purges set `done`. The first purge can fail once, as a broken database would."""

    def __init__(self, wanted: int, fail_first: bool = False):
        self.days: list[float] = []
        self.wanted, self.fail_first = wanted, fail_first
        self.done = asyncio.Event()

    async def purge(self, older_than_days: float) -> dict:
        self.days.append(older_than_days)
        if len(self.days) >= self.wanted:
            self.done.set()
        if self.fail_first and len(self.days) == 1:
            raise RuntimeError("database is locked")
        return {"turns": 0}


async def run_until_done(store: CountingStore, days_getter, every_s: float) -> None:
    job = asyncio.create_task(retention_loop(store, days_getter, every_s=every_s))
    try:
        await asyncio.wait_for(store.done.wait(), timeout=30)
    finally:
        job.cancel()
    assert (await asyncio.gather(job, return_exceptions=True))[0].__class__ is asyncio.CancelledError


async def test_purges_at_start_before_the_first_period():
    store = CountingStore(wanted=1)
    await run_until_done(store, lambda: 30.0, every_s=3600)
    assert store.days == [30.0]


async def test_reads_the_days_each_time_and_survives_a_failed_purge():
    store = CountingStore(wanted=3, fail_first=True)
    answers = iter([30.0, 7.0, 1.5])

    async def days() -> float:
        return next(answers)

    await run_until_done(store, days, every_s=0)
    assert store.days == [30.0, 7.0, 1.5]
