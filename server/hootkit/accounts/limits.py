"""Failed attempts per key (an address, a user name) in a sliding window: too many and the key must wait."""

import time
from collections import deque
from collections.abc import Callable


class FailureLimit:
    """`wait_s(key)` is 0 until `max_failures` failures fall within `window_s`, then the seconds left."""

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def wait_s(self, *keys: str) -> float:
        now = self.clock()
        longest = 0.0
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= self.max_failures:
                longest = max(longest, failures[0] + self.window_s - now)
        return longest

    def failed(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures
