"""Attempts per key (an address, a user name) in a sliding window: too many and the key must wait."""

import time
from collections import deque
from collections.abc import Callable


class FailureLimit:
    """`wait_s(key)` is 0 until `max_failures` failures fall within `window_s`, then the seconds left.

    For checks that await something slow (a password hash), `attempt` counts the try before the wait, so
    parallel tries cannot all slip past the limit; `succeeded` then clears the keys, `forgive` takes back
    one try that was never judged. Memory is bounded: keys with no recent tries are dropped, and past
    `max_keys` the keys whose last try is oldest go first.
    """

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000):
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}  # oldest last try first (a key moves to the end on a try)
        self.share: Callable[[str, list[str]], None] | None = None  # tells the other servers sharing the store

    def __len__(self) -> int:
        return len(self._failures)

    def wait_s(self, *keys: str) -> float:
        now = self.clock()
        longest = 0.0
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= self.max_failures:
                longest = max(longest, failures[0] + self.window_s - now)
        return longest

    def tries(self, key: str) -> int:
        """How many tries count against `key` now."""
        return len(self._recent(key, self.clock()))

    def attempt(self, *keys: str) -> float:
        """0, with a try counted against every key; or, with nothing counted, the seconds to wait."""
        wait = self.wait_s(*keys)
        if not wait:
            self.failed(*keys)
        return wait

    def failed(self, *keys: str) -> None:
        self._failed(*keys)
        self._tell("failed", keys)

    def heard(self, change: str, keys: list[str]) -> None:
        """Another server counted, took back or cleared these keys' tries (it shares the store): so does this one."""
        {"failed": self._failed, "forgive": self._forgive, "succeeded": self._succeeded}[change](*keys)

    def _tell(self, change: str, keys: tuple[str, ...]) -> None:
        if self.share is not None:
            self.share(change, list(keys))

    def _failed(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            failures = self._recent(key, now)
            self._failures.pop(key, None)
            failures.append(now)
            self._failures[key] = failures
        self._prune(now)

    def forgive(self, *keys: str) -> None:
        """Take back each key's latest try (one counted by `attempt` and then never judged)."""
        self._forgive(*keys)
        self._tell("forgive", keys)

    def _forgive(self, *keys: str) -> None:
        for key in keys:
            failures = self._failures.get(key)
            if failures:
                failures.pop()
                if not failures:
                    del self._failures[key]

    def succeeded(self, *keys: str) -> None:
        self._succeeded(*keys)
        self._tell("succeeded", keys)

    def _succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        """The key's tries within the window (a new empty deque, not stored, for a key without any)."""
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def _prune(self, now: float) -> None:
        if len(self._failures) <= self.max_keys:
            return
        for key in [key for key, failures in self._failures.items() if failures[-1] <= now - self.window_s]:
            del self._failures[key]
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]
