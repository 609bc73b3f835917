"""A few worker threads per engine that run blocking calls fairly, round-robin across sessions."""

import asyncio
import collections
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any


class QueueFull(RuntimeError):
    """A session asked for more concurrent jobs on one engine than it may have."""


class _Job:
    def __init__(self, loop: asyncio.AbstractEventLoop, fn: Callable[[], Any], future: asyncio.Future):
        self.loop = loop
        self.fn = fn
        self.future = future


class FairExecutor:
    """Runs jobs for many sessions on `workers` threads, taking one job per session in turn.

    A session that floods an engine only lengthens its own queue, never another session's wait.
    """

    def __init__(self, name: str, workers: int = 1, max_queued_per_session: int = 8):
        self.name = name
        self.max_queued_per_session = max_queued_per_session
        self._queues: dict[str, collections.deque[_Job]] = {}
        self._ring: collections.deque[str] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"hoot-{name}-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, key: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(*args) on a worker thread in the fair order and return its result."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._submit(key, _Job(loop, lambda: fn(*args), future))
        return await future

    async def stream(self, key: str, make_iter: Callable[[], Iterator[Any]]) -> AsyncIterator[Any]:
        """Iterate a blocking iterator on a worker; closing the async iterator stops it at the next item."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        done = object()

        def pump() -> None:
            iterator = make_iter()
            try:
                for item in iterator:
                    if stop.is_set() or not _deliver(loop, items.put_nowait, item):
                        break
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()

        future = loop.create_future()
        future.add_done_callback(lambda _f: items.put_nowait(done))
        self._submit(key, _Job(loop, pump, future))
        try:
            while (item := await items.get()) is not done:
                yield item
            future.result()
        finally:
            stop.set()
            if not future.done():
                future.cancel()

    def pending(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    def close(self, timeout_s: float = 30.0) -> None:
        """Take no more jobs and wait for the running ones, so the engine can free its model safely."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout_s)

    def _submit(self, key: str, job: _Job) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError(f"{self.name} engine is shut down")
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = collections.deque()
                self._ring.append(key)
            if len(queue) >= self.max_queued_per_session:
                raise QueueFull(f"too many queued {self.name} jobs for session {key}")
            queue.append(job)
            self._cond.notify()

    def _next_job(self) -> _Job | None:
        with self._cond:
            while not self._closed:
                while self._ring:
                    key = self._ring.popleft()
                    queue = self._queues[key]
                    job = queue.popleft()
                    if queue:
                        self._ring.append(key)
                    else:
                        del self._queues[key]
                    if not job.future.cancelled():
                        return job
                self._cond.wait()
            return None

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                result = job.fn()
            except BaseException as error:  # handed to the awaiting coroutine, never lost
                _deliver(job.loop, _settle, job.future, None, error)
            else:
                _deliver(job.loop, _settle, job.future, result, None)


def _deliver(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> bool:
    """Hand a result to the loop that asked; False if that loop is gone (nobody waits any more)."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        return False
    return True


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
