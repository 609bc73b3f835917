"""The fair executor: results, errors, round-robin order across sessions, and stopping streams."""

import asyncio
import threading

import pytest

from hootkit.engines.executor import FairExecutor, QueueFull


async def test_run_returns_results_and_raises_errors():
    executor = FairExecutor("t")
    assert await executor.run("a", lambda x: x * 2, 21) == 42
    with pytest.raises(ZeroDivisionError):
        await executor.run("a", lambda: 1 / 0)
    executor.close()


async def test_sessions_are_served_in_turn():
    executor = FairExecutor("t")
    hold = threading.Event()
    order = []
    blocker = asyncio.ensure_future(executor.run("busy", hold.wait))
    jobs = [asyncio.ensure_future(executor.run(key, order.append, f"{key}{n}")) for key in ("a", "b") for n in range(3)]
    while executor.pending() < 6:
        await asyncio.sleep(0)
    hold.set()
    await asyncio.gather(blocker, *jobs)
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2"]
    executor.close()


async def test_queue_is_bounded_per_session():
    executor = FairExecutor("t", max_queued_per_session=1)
    hold, running = threading.Event(), threading.Event()
    first = asyncio.ensure_future(executor.run("a", lambda: (running.set(), hold.wait())))
    await asyncio.to_thread(running.wait)
    second = asyncio.ensure_future(executor.run("a", hold.wait))
    while executor.pending() < 1:
        await asyncio.sleep(0)
    with pytest.raises(QueueFull):
        await executor.run("a", hold.wait)
    hold.set()
    await asyncio.gather(first, second)
    executor.close()


async def test_closing_a_stream_stops_the_worker_iterator():
    executor = FairExecutor("t")
    produced = []
    stopped, gate = threading.Event(), threading.Event()

    def numbers():
        try:
            for n in range(10_000):
                if n == 3:
                    gate.wait(timeout=10)  # the worker holds here until the consumer has closed the stream
                produced.append(n)
                yield n
        finally:
            stopped.set()

    stream = executor.stream("a", numbers)
    async for n in stream:
        if n == 2:
            break
    await stream.aclose()
    gate.set()
    assert await asyncio.to_thread(stopped.wait, 10)
    assert produced == [0, 1, 2, 3]  # the one item made after the close is the last: the worker stopped there
    assert await executor.run("a", lambda: "still works") == "still works"
    executor.close()


def test_a_closed_event_loop_does_not_kill_the_worker():
    executor = FairExecutor("t")
    started, release = threading.Event(), threading.Event()

    async def leave_a_job_behind():
        asyncio.ensure_future(executor.run("a", lambda: (started.set(), release.wait())))
        await asyncio.to_thread(started.wait)

    asyncio.run(leave_a_job_behind())  # its loop closes while the job still runs
    release.set()
    assert asyncio.run(asyncio.wait_for(executor.run("a", lambda: "alive"), 10)) == "alive"
    executor.close()
