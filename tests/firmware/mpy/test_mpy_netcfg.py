"""hoot.netcfg on MicroPython: the Wi-Fi rejoin backoff."""

from hoot import netcfg


def test_backoff_doubles_from_half_a_second():
    assert [netcfg.backoff(i) for i in range(7)] == [500, 1000, 2000, 4000, 8000, 16000, 30000]


def test_backoff_is_capped_at_thirty_seconds():
    assert netcfg.backoff(6) == netcfg.MAX_BACKOFF_MS == 30000
    for attempt in (7, 10, 11, 31, 100, 10000):
        assert netcfg.backoff(attempt) == 30000, attempt


def test_backoff_never_decreases():
    last = 0
    for attempt in range(40):
        wait = netcfg.backoff(attempt)
        assert last <= wait <= 30000
        last = wait
