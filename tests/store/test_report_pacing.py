"""A teacher's report or export over a big school is worked out by the database and read a page at a time, not in one
long step on the event loop that paces every device's audio."""

import asyncio

import pytest
from store_fixtures import store  # noqa: F401 (a fixture)
from store_helpers import FLAG, Pacing, crowd

from hootkit.dashboard.records_api import _export_body

# The bound is generous on purpose: it must hold on a slow, busy 2-core CI machine (other processes, threads), and
# it only has to tell "the loop kept running" from "the loop stopped for a second or more". Here the longest step is
# ~20-70 ms. A device's audio goes out in 40 ms frames after a short pre-roll, so a quarter second is already heard.
# The old report compared every turn with every device in Python (2,000 x 20,000 = 40 million steps, tens of
# seconds here without yielding once); the old export made 20,000 ORM objects in one step (~0.8 s here).
STALL_BOUND_S = 0.25


@pytest.mark.timeout(120)
async def test_a_report_over_2000_devices_does_not_stall_the_event_loop(store):
    ids = await crowd(store, devices=2000, turns_each=10, flag_every=10)
    async with Pacing() as pacing:
        reports = await store.report(ids)
    assert [report["device_id"] for report in reports] == ids
    assert {(report["sessions"], report["turns"], report["time_s"]) for report in reports} == {(1, 10, 35.0)}
    assert all([(turn["number"], turn["flags"]) for turn in report["flagged"]] == [(10, [FLAG])] for report in reports)
    assert pacing.longest_s < STALL_BOUND_S, f"the event loop stalled for {pacing.longest_s * 1000:.0f} ms"


@pytest.mark.timeout(120)
async def test_an_export_of_20000_turns_does_not_stall_the_event_loop(store):
    ids = await crowd(store, devices=2000, turns_each=10)
    async with Pacing() as pacing:
        rows = await store.export_rows(reversed(ids))
        csv_body = await asyncio.to_thread(_export_body, rows, "csv")  # as the export route builds it
    assert [(row["device_id"], row["number"]) for row in rows] == [(device_id, n) for device_id in ids for n in range(1, 11)]
    assert csv_body.count(b"\n") == 20_001
    assert pacing.longest_s < STALL_BOUND_S, f"the event loop stalled for {pacing.longest_s * 1000:.0f} ms"
