"""The in-memory counters (login and pairing tries, talking time) stay small: empty entries and old days
go, and past a cap the least useful keys are forgotten. A fake clock drives them."""

from datetime import datetime

from hootkit.accounts.limits import FailureLimit
from hootkit.safety.usage import UsageLimits
from hootkit.settings import UsageSettings


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_attempt_counts_before_the_answer_and_refuses_past_the_limit():
    clock = Clock()
    limit = FailureLimit(max_failures=3, window_s=60, clock=clock)
    assert [limit.attempt("ip:a", "user:tom") for _ in range(3)] == [0, 0, 0]
    assert limit.attempt("ip:a", "user:tom") == 60  # refused, and not counted
    assert limit.attempt("ip:b", "user:tom") == 60  # the name is blocked from any address
    assert limit.attempt("ip:a", "user:ada") == 60  # and the address for any name
    clock.now += 30
    assert limit.wait_s("ip:a") == 30
    clock.now += 30
    assert limit.attempt("ip:a", "user:tom") == 0


def test_success_clears_and_forgive_takes_back_one_try():
    limit = FailureLimit(max_failures=2, window_s=60, clock=Clock())
    limit.attempt("ip:a")
    limit.attempt("ip:a")
    assert limit.wait_s("ip:a") > 0
    limit.forgive("ip:a")
    assert limit.wait_s("ip:a") == 0
    limit.attempt("ip:a")
    limit.succeeded("ip:a")
    assert len(limit) == 0 and limit.wait_s("ip:a") == 0


def test_keys_without_recent_tries_are_dropped():
    clock = Clock()
    limit = FailureLimit(max_failures=5, window_s=60, clock=clock)
    for n in range(100):
        assert limit.wait_s(f"ip:{n}") == 0  # asking stores nothing
    assert len(limit) == 0
    limit.failed("ip:a", "user:tom")
    limit.forgive("ip:a")
    assert len(limit) == 1
    clock.now += 61
    assert limit.wait_s("user:tom") == 0 and len(limit) == 0


def test_past_the_key_cap_the_oldest_keys_go_first():
    clock = Clock()
    limit = FailureLimit(max_failures=2, window_s=60, clock=clock, max_keys=100)
    limit.failed("ip:attacker")
    limit.failed("ip:attacker")
    for n in range(99):
        clock.now += 0.01
        limit.failed(f"ip:spray-{n}")
    limit.failed("ip:attacker")  # a new try makes a key young again
    limit.failed("ip:spray-99")
    assert len(limit) == 100 and "ip:spray-0" not in limit._failures and limit.wait_s("ip:attacker") > 0
    for n in range(100, 1000):
        clock.now += 0.01
        limit.failed(f"ip:spray-{n}")
        assert len(limit) <= 100
    assert "ip:spray-999" in limit._failures
    clock.now += 60
    limit.failed("ip:late")  # the expired keys are pruned first
    assert len(limit) == 1


def at(day: int, hour: int = 10):
    return lambda: datetime(2026, 11, day, hour)


def test_talking_time_keeps_today_only_and_no_empty_entries():
    limits = UsageLimits(UsageSettings(daily_minutes=1), now=at(23))
    limits.record("owl-1", 30)
    limits.record("owl-2", 0)
    assert limits.used_s("owl-3") == 0
    assert len(limits) == 1
    limits.now = at(24)
    assert limits.used_s("owl-1") == 0 and len(limits) == 0
    limits.record("owl-1", 5)
    assert limits.used_s("owl-1") == 5


def test_past_the_device_cap_the_device_that_talked_least_is_forgotten():
    limits = UsageLimits(UsageSettings(daily_minutes=1), now=at(23), max_devices=3)
    limits.record("chatty", 70)
    limits.record("quiet", 1)
    limits.record("some", 10)
    limits.record("new", 5)
    assert len(limits) == 3 and limits.used_s("quiet") == 0
    assert limits.refusal("chatty", "hi").category == "daily_limit"
