"""A teacher's report or export rests between its steps: at most a quarter of the event loop's time is its."""

import pytest

from hootkit.store import low_priority
from hootkit.store.low_priority import LowPriority


async def test_work_rests_three_times_as_long_as_it_was_busy(monkeypatch):
    clock, slept = [100.0], []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(low_priority.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(low_priority.asyncio, "sleep", sleep)
    pace = LowPriority(share=0.25)
    clock[0] += 0.010  # a page of work
    await pace.step()
    clock[0] += 0.002
    await pace.step()
    assert slept == pytest.approx([0.030, 0.006])
