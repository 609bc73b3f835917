"""Addresses someone logged in from lately: a login from one of them is checked at the server's own priority, at
most once a minute per address and per name typed (so a loop of logins cannot hold that lane)."""

import time
from collections.abc import Callable

KEEP_S = 30 * 24 * 3600.0  # an address is known for 30 days after its last right password
MAX_ADDRESSES = 10_000  # past this, the address whose last login is oldest is forgotten first
FAST_EVERY_S = 60.0  # one login a minute per address, and per name typed, is checked at the server's priority


class KnownAddresses:
    """`address in known` after a login from it succeeded within KEEP_S."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._last_login: dict[str, float] = {}  # address -> when it last logged in, oldest first
        self._last_fast: dict[str, float] = {}  # "ip:..." or "user:..." -> when it last had the fast lane, oldest first

    def add(self, address: str, at: float | None = None) -> None:
        if not address:
            return
        at = self.clock() if at is None else at
        _remember(self._last_login, address, max(at, self._last_login.get(address, at)), MAX_ADDRESSES)

    def __contains__(self, address: str) -> bool:
        last = self._last_login.get(address)
        return last is not None and self.clock() - last < KEEP_S

    def fast_lane(self, address: str, name: str) -> bool:
        """Whether this login (from a known address) is checked at the server's priority: not if the address or the
        name typed had that within FAST_EVERY_S. Taking it counts."""
        now = self.clock()
        keys = (f"ip:{address}", f"user:{name.lower()}")
        if any(now - self._last_fast.get(key, -FAST_EVERY_S) < FAST_EVERY_S for key in keys):
            return False
        for key in keys:
            _remember(self._last_fast, key, now, 2 * MAX_ADDRESSES)
        return True


def _remember(times: dict[str, float], key: str, at: float, most: int) -> None:
    """`times[key] = at`, kept in order of use (the key moves last); past `most` keys the least used go first."""
    times.pop(key, None)
    times[key] = at
    while len(times) > most:
        del times[next(iter(times))]
