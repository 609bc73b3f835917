"""Refused requests in the audit log, bounded: the first few from an address each minute are written one by one
and the rest counted into one row, so a flood of refused requests cannot fill the disk or queue ahead of a turn."""

import asyncio
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
ROWS_PER_WINDOW = 10  # per address and status: more than a person mistyping, fewer than a script
WINDOW_S = 60.0
MAX_ADDRESSES = 10_000  # beyond this many addresses in one window, the others share one tally
SAMPLES_KEPT = 5  # names and paths quoted in a summary row


@dataclass
class _Tally:
    written: int = 0
    more: int = 0
    actors: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)

    def count(self, actor: str, target: str) -> None:
        self.more += 1
        for seen, value in ((self.actors, actor), (self.targets, target)):
            if value not in seen and len(seen) < SAMPLES_KEPT:
                seen.append(value)


class RefusalLog:
    """Writes refusals to `store`'s audit log; call `close()` before the store closes to write what was counted."""

    def __init__(self, store, rows_per_window: int = ROWS_PER_WINDOW, window_s: float = WINDOW_S):
        self.store = store
        self.rows_per_window = rows_per_window
        self.window_s = window_s
        self._tallies: dict[tuple[str, int], _Tally] = {}
        self._timers: dict[tuple[str, int], asyncio.TimerHandle] = {}
        self._summaries: set[asyncio.Task] = set()

    async def refused(self, actor: str, target: str, status: int, reason: str, ip: str) -> None:
        key = (ip, status)
        if key not in self._tallies and len(self._tallies) >= MAX_ADDRESSES:
            key = ("(many addresses)", status)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally()
            self._timers[key] = asyncio.get_running_loop().call_later(self.window_s, self._end_window, key)
        if tally.written < self.rows_per_window:
            tally.written += 1
            await self.store.audit(actor, "refused", target, ok=False, detail=f"{status}: {reason}", ip=ip)
        else:
            tally.count(actor, target)

    def _end_window(self, key: tuple[str, int]) -> None:
        summary = self._summary(key)
        if summary is not None:
            task = asyncio.get_running_loop().create_task(summary)
            self._summaries.add(task)
            task.add_done_callback(self._summaries.discard)

    def _summary(self, key: tuple[str, int]):
        """The row for what a window counted (a coroutine), or None when it counted nothing."""
        self._timers.pop(key).cancel()
        tally = self._tallies.pop(key)
        if not tally.more:
            return None
        address, status = key
        detail = (f"{status}: {tally.more} more like these within {self.window_s:.0f} s, not written one by one "
                  f"(names: {', '.join(tally.actors)}; paths: {', '.join(tally.targets)})")
        return self._write_summary(detail, address)

    async def _write_summary(self, detail: str, address: str) -> None:
        try:
            await self.store.audit("(many)", "refused", "(counted)", ok=False, detail=detail, ip=address)
        except Exception:
            log.exception("could not write a refusal count to the audit log")

    async def close(self) -> None:
        """Write every window's count now (the server is stopping)."""
        summaries = [summary for key in list(self._tallies) if (summary := self._summary(key)) is not None]
        await asyncio.gather(*summaries, *self._summaries)
