"""Refused requests in the audit log, bounded: the first few from an address each minute are written one by one
and the rest counted into one row, so a flood of refused requests cannot fill the disk or queue ahead of a turn."""

import asyncio
import ipaddress
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
ROWS_PER_WINDOW = 10  # per address and status: more than a person mistyping, fewer than a script
ROWS_PER_WINDOW_IN_ALL = 200  # rows written one by one per window, all addresses together
WINDOW_S = 60.0
MAX_ADDRESSES = 50  # tallies per status in one window; past this, addresses are tallied by network (/24, /64)
NAMES_COUNTED = 1000  # distinct names (and paths) counted per tally; the rest are "others"
NAMES_SHOWN = 10  # the most tried names (and paths) in a count's row
ACTOR_CHARS, TARGET_CHARS = 100, 200
SAMPLE_CHARS = 60  # of a name or path counted into a tally


@dataclass
class _Tally:
    written: int = 0
    more: int = 0
    actors: Counter = field(default_factory=Counter)
    targets: Counter = field(default_factory=Counter)

    def count(self, actor: str, target: str) -> None:
        self.more += 1
        for counter, value in ((self.actors, actor[:SAMPLE_CHARS]), (self.targets, target[:SAMPLE_CHARS])):
            counter[value if value in counter or len(counter) < NAMES_COUNTED else "(others)"] += 1


def _most(counter: Counter) -> str:
    shown = [f"{value} x{times}" for value, times in counter.most_common(NAMES_SHOWN)]
    rest = len(counter) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")


def network_of(address: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) network an address is in, or the address when it is not one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    ip = getattr(ip, "ipv4_mapped", None) or ip  # an IPv4 client on a dual-stack bind
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False))


class RefusalLog:
    """Writes refusals to `store`'s audit log; call `close()` before the store closes to write what was counted."""

    def __init__(self, store, rows_per_window: int = ROWS_PER_WINDOW, window_s: float = WINDOW_S,
                 rows_in_all: int = ROWS_PER_WINDOW_IN_ALL):
        self.store = store
        self.rows_per_window = rows_per_window
        self.window_s = window_s
        self.rows_in_all = rows_in_all
        self._tallies: dict[tuple[str, int], _Tally] = {}
        self._timers: dict[tuple[str, int], asyncio.TimerHandle] = {}
        self._summaries: set[asyncio.Task] = set()
        self._window_started = time.monotonic()
        self._rows_left = rows_in_all

    def _key(self, ip: str, status: int) -> tuple[str, int]:
        """Where a refusal is tallied: by its address, past MAX_ADDRESSES tallies by its network, then all together."""
        for key, room in (((ip, status), MAX_ADDRESSES), ((network_of(ip), status), 2 * MAX_ADDRESSES)):
            if key in self._tallies or len(self._tallies) < room:
                return key
        return ("(many addresses)", status)

    def _may_write(self) -> bool:
        if time.monotonic() - self._window_started >= self.window_s:
            self._window_started, self._rows_left = time.monotonic(), self.rows_in_all
        if self._rows_left <= 0:
            return False
        self._rows_left -= 1
        return True

    async def refused(self, actor: str, target: str, status: int, reason: str, ip: str) -> None:
        actor, target = actor[:ACTOR_CHARS], target[:TARGET_CHARS]
        key = self._key(ip, status)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally()
            self._timers[key] = asyncio.get_running_loop().call_later(self.window_s, self._end_window, key)
        if tally.written < self.rows_per_window and self._may_write():
            tally.written += 1
            await self.store.audit(actor, "refused", target, ok=False, detail=f"{status}: {reason}", ip=ip)
            return
        tally.count(actor, target)
        if tally.more == 1 and self._may_write():  # the flood shows in the log at once; its count follows
            await self.store.audit("(many)", "refused", "(counting)", ok=False, ip=key[0],
                                   detail=f"{status}: more refusals like these are being counted, not written "
                                          f"one by one; their count follows within {self.window_s:.0f} s")

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
                  f"(names: {_most(tally.actors)}; paths: {_most(tally.targets)})")
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
