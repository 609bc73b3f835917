"""A flood of refused requests writes a bounded number of audit rows: the first few one by one, the rest counted."""

import asyncio

import pytest
from school import lessons_dir, school  # noqa: F401 (fixtures)

from hootkit.dashboard import refusals
from hootkit.dashboard.refusals import RefusalLog, network_of

pytestmark = pytest.mark.timeout(60)


async def test_a_flood_of_unauthenticated_calls_writes_ten_rows_a_notice_and_one_count(school):
    async with school() as s, s.anonymous() as api:
        answers = await asyncio.gather(*(api.get("/api/devices") for _ in range(40)))
        assert {answer.status_code for answer in answers} == {401}
        written = await s.audit("refused")
        assert len(written) == refusals.ROWS_PER_WINDOW + 1
        assert "being counted" in written[0].detail  # the flood shows at once
        await s.hoot.refusals.close()  # as the server does when it stops, or each window does at its end
        refused = await s.audit("refused")
    assert len(refused) == refusals.ROWS_PER_WINDOW + 2
    count = refused[0]
    assert count.detail.startswith("401: 30 more like these") and "GET /api/devices x30" in count.detail
    assert count.ip == "127.0.0.1" and not count.ok


class KeptAudits:
    def __init__(self):
        self.rows: list[dict] = []

    async def audit(self, actor, action, target="", ok=True, detail="", ip=""):
        self.rows.append({"actor": actor, "target": target, "detail": detail, "ip": ip})


async def test_each_address_and_status_has_its_own_allowance_and_names_tried_are_kept_in_the_count():
    store = KeptAudits()
    log = RefusalLog(store, rows_per_window=2)
    for name in ("ann", "bob", "cy", "dee"):
        await log.refused(name, "POST /api/login", 401, "wrong user name or password", "10.0.0.7")
    await log.refused("ann", "POST /api/login", 429, "too many wrong tries", "10.0.0.7")
    await log.refused("eve", "POST /api/login", 401, "wrong user name or password", "10.0.0.8")
    assert [(row["actor"], row["ip"]) for row in store.rows] == [("ann", "10.0.0.7"), ("bob", "10.0.0.7"),
                                                                ("(many)", "10.0.0.7"), ("ann", "10.0.0.7"),
                                                                ("eve", "10.0.0.8")]
    await log.close()
    assert len(store.rows) == 6
    count = store.rows[-1]
    assert count["ip"] == "10.0.0.7" and count["detail"].startswith("401: 2 more") and "cy x1, dee x1" in count["detail"]


async def test_the_account_under_attack_leads_the_count_whatever_came_first():
    """An attacker who spends the written rows and the first names on decoys still cannot hide the real target."""
    store = KeptAudits()
    log = RefusalLog(store)
    for n in range(refusals.ROWS_PER_WINDOW):
        await log.refused("anonymous", "GET /api/devices", 401, "log in first", "10.0.0.5")
    for n in range(refusals.NAMES_SHOWN + 5):
        await log.refused(f"decoy-{n}", "POST /api/login", 401, "wrong user name or password", "10.0.0.5")
    for _ in range(100):
        await log.refused("headteacher", "POST /api/login", 401, "wrong user name or password", "10.0.0.5")
    await log.refused("x" * 5000, "GET /api/" + "y" * 60000, 401, "log in first", "10.0.0.5")
    await log.close()
    count = store.rows[-1]["detail"]
    assert "(names: headteacher x100, " in count and len(count) < 5000


async def test_rows_written_one_by_one_are_capped_for_all_addresses_together():
    store = KeptAudits()
    log = RefusalLog(store, rows_in_all=25)
    for address in range(50):
        await log.refused("anonymous", "GET /api/devices", 401, "log in first", f"10.0.1.{address}")
    assert len(store.rows) == 25
    await log.close()
    assert len(store.rows) == 50  # a count for each address whose refusal was not written


async def test_a_window_that_ends_writes_its_count_and_starts_a_fresh_allowance():
    store = KeptAudits()
    log = RefusalLog(store, rows_per_window=1, window_s=0)
    for _ in range(3):
        await log.refused("anonymous", "GET /api/devices", 401, "log in first", "10.0.0.9")
    # a zero-length window ends on the loop's next turn
    ended = asyncio.Event()
    asyncio.get_running_loop().call_soon(ended.set)
    await ended.wait()
    await log.refused("anonymous", "GET /api/devices", 401, "log in first", "10.0.0.9")
    await log.close()
    assert sorted(row["detail"][:13] for row in store.rows) == ["401: 2 more l", "401: log in f", "401: log in f",
                                                                "401: more ref"]


def test_addresses_are_tallied_by_their_network_and_ipv4_on_a_dual_stack_bind_by_its_own():
    assert network_of("10.0.3.77") == "10.0.3.0/24"
    assert network_of("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert network_of("::ffff:10.0.3.77") == "10.0.3.0/24"
    assert network_of("testclient") == "testclient"
