"""A teacher's report or export over a big school is worked out by the database and read a page at a time, and
the export file is made on a worker thread: no long step on the event loop that paces every device's audio.

Structural checks only (how many statements and rows, page sizes, which thread); the timings are in
bench/report_jitter.py. The old design read every turn as an ORM object in one step and filtered them per device
in Python, and made the export file on the event loop: each check here fails on it."""

import asyncio
import sqlite3
import threading
from contextlib import aclosing, contextmanager
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from store_fixtures import store  # noqa: F401 (a fixture)
from store_helpers import FLAG, crowd

from hootkit.dashboard import records_api
from hootkit.dashboard.logins import caller
from hootkit.store.db import Store

DEVICES, TURNS_EACH = 1000, 10
PAGE_ROWS = 200  # Store._turn_pages' page size


@contextmanager
def statements(store):
    """`with statements(store) as seen:` every (SQL, parameters) the store sends to SQLite meanwhile, in order."""
    seen: list[tuple[str, tuple]] = []

    def record(_connection, _cursor, statement, parameters, _context, _many):
        seen.append((statement, tuple(parameters or ())))

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", record)


def rows_returned(store, seen: list[tuple[str, tuple]]) -> int:
    """How many rows those SELECTs hand back, counted by running them again on a plain sqlite3 connection."""
    with sqlite3.connect(store.engine.url.database) as connection:
        return sum(len(connection.execute(sql, parameters).fetchall())
                   for sql, parameters in seen if sql.lstrip().upper().startswith("SELECT"))


@pytest.fixture
def pages(monkeypatch) -> list[int]:
    """The sizes of the pages of turns the store reads (through Store._turn_pages), in order."""
    sizes: list[int] = []
    real = Store._turn_pages

    async def spy(self, *where, **options):
        async with aclosing(real(self, *where, **options)) as inner:
            async for page in inner:
                sizes.append(len(page))
                yield page

    monkeypatch.setattr(Store, "_turn_pages", spy)
    return sizes


@pytest.mark.timeout(120)
async def test_a_report_counts_in_sql_and_reads_only_flagged_turns_a_page_at_a_time(store, pages):
    ids = await crowd(store, devices=DEVICES, turns_each=TURNS_EACH, flag_every=TURNS_EACH)
    with statements(store) as few:
        await store.report(ids[:10])
    with statements(store) as many:
        reports = await store.report(ids)
    assert [report["device_id"] for report in reports] == ids
    assert {(report["sessions"], report["turns"], report["time_s"]) for report in reports} == {(1, 10, 35.0)}
    assert all([(turn["number"], turn["flags"]) for turn in report["flagged"]] == [(10, [FLAG])] for report in reports)

    # as many statements for a thousand devices as for ten: nothing is asked per device
    assert len(many) == len(few)
    # per device a session count and a turn total, then only the flagged turns: never all 10,000 turns
    flagged = sum(len(report["flagged"]) for report in reports)
    assert flagged == DEVICES
    assert rows_returned(store, many) <= 2 * DEVICES + flagged < DEVICES * TURNS_EACH
    # the flagged turns come a page at a time
    assert sum(pages) == 10 + flagged and max(pages) <= PAGE_ROWS


@pytest.mark.timeout(120)
async def test_an_export_reads_turns_a_page_at_a_time_and_makes_the_file_off_the_event_loop(store, pages, monkeypatch):
    ids = await crowd(store, devices=DEVICES, turns_each=TURNS_EACH)
    made_on: list[threading.Thread] = []
    real_body = records_api._export_body

    def body(rows, format):
        made_on.append(threading.current_thread())
        return real_body(rows, format)

    monkeypatch.setattr(records_api, "_export_body", body)
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(hoot=SimpleNamespace(store=store))))
    who = SimpleNamespace(name="tom", ip="127.0.0.1")
    response = await records_api._export(request, who, list(reversed(ids)), "csv", "class-1")  # as both routes do

    assert response.body.count(b"\n") == DEVICES * TURNS_EACH + 1
    assert response.body.splitlines()[1].startswith(f"{ids[0]},".encode())  # by device, whatever order asked in
    assert sum(pages) == DEVICES * TURNS_EACH and max(pages) <= PAGE_ROWS
    assert made_on and all(thread is not threading.current_thread() for thread in made_on), \
        "the export file was made on the event loop's thread"


@pytest.mark.timeout(120)
async def test_a_report_answer_is_encoded_a_page_of_devices_at_a_time(store, monkeypatch):
    """FastAPI's own encoding of a returned dict is one step on the event loop, however big the school."""
    ids = await crowd(store, devices=DEVICES, turns_each=TURNS_EACH, flag_every=2)
    steps = 0
    built_at: list[int] = []
    real_report = store.report

    async def report(device_ids):
        reports = await real_report(device_ids)
        built_at.append(steps)
        return reports

    async def other_task(stop: asyncio.Event) -> None:
        nonlocal steps
        while not stop.is_set():
            steps += 1
            await asyncio.sleep(0)

    async def whole_class(_request, _who, _class_ids):
        return ids

    monkeypatch.setattr(store, "report", report)
    monkeypatch.setattr(records_api, "class_device_ids", whole_class)
    app = FastAPI()
    app.include_router(records_api.router)
    app.dependency_overrides[caller] = lambda: SimpleNamespace(name="tom", ip="127.0.0.1")
    app.state.hoot = SimpleNamespace(store=store)
    stop = asyncio.Event()
    counting = asyncio.create_task(other_task(stop))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hoot") as client:
            response = await client.get("/api/classes/1/report")
    finally:
        stop.set()
        await counting
    reports = response.json()["reports"]
    assert [report["device_id"] for report in reports] == ids
    assert all(len(report["flagged"]) == TURNS_EACH // 2 for report in reports)
    assert steps - built_at[0] >= DEVICES // records_api.REPORT_PAGE, "the answer was encoded in one step"
