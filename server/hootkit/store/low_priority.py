"""Work a teacher waits for (a report, an export) shares the event loop that paces every device's audio: it takes
at most a share of the loop's time, so a flood of such requests slows those requests, not a child's reply."""

import asyncio
import time

SHARE = 0.25  # of the event loop's time that one such piece of work may take


class LowPriority:
    """`await pace.step()` after each step of the work: waits long enough that the work had at most `share` of
    the time since the last step (the time it awaited counts as work: it only ever waits longer)."""

    def __init__(self, share: float = SHARE):
        self.rest_per_busy_s = (1 - share) / share
        self._since = time.perf_counter()

    async def step(self) -> None:
        busy = time.perf_counter() - self._since
        await asyncio.sleep(busy * self.rest_per_busy_s)
        self._since = time.perf_counter()
