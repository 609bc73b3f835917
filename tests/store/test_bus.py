"""The bus's messages: what fits in a NOTIFY, and what a server does with messages that are not ours or its own."""

import asyncio
import json
import time

import pytest

from hootkit.gateway.elsewhere import COMMANDS, MOST_WAITING
from hootkit.store.bus import MAX_AGE_S, MAX_COMMANDS, MAX_PAYLOAD, TRIM_CHARS, Bus, _signature, encode


def test_long_texts_are_cut_to_fit_a_notify_and_what_still_does_not_fit_is_not_sent():
    turn = {"device_id": "owl-1", "transcript": "why " * 3000, "reply": "because " * 3000}
    payload = encode("a", "news", turn)
    assert len(payload.encode()) < MAX_PAYLOAD
    data = json.loads(payload)["data"]
    assert len(data["transcript"]) == TRIM_CHARS and len(data["reply"]) == TRIM_CHARS and data["device_id"] == "owl-1"
    assert encode("a", "news", {"device_id": "owl-1", "flags": ["x" * 9000]}) is None
    assert json.loads(encode("a", "control", {"device_id": "owl-1", "command": "pause"}))["data"]["command"] == "pause"


def test_relayed_news_is_cut_inside_too():
    news = {"kind": "turn", "device_id": "owl-1", "data": {"transcript": "为什么" * 1500, "reply": "因为" * 1500}}
    data = json.loads(encode("a", "news", news))["data"]
    assert len(data["data"]["transcript"]) == TRIM_CHARS and len(data["data"]["reply"]) == TRIM_CHARS


def test_text_that_is_not_unicode_is_not_sent_and_raises_nothing():
    bus = Bus("postgresql+asyncpg://hoot@db/hootkit")
    bus.send("news", {"kind": "turn", "device_id": "owl-1", "data": {"transcript": "\ud800"}})
    assert not bus._news


def test_sqlalchemys_ssl_is_asyncpgs_sslmode():
    assert Bus("postgresql+asyncpg://hoot:pw@db:5432/hootkit?ssl=require").dsn == \
        "postgresql://hoot:pw@db:5432/hootkit?sslmode=require"


KEY = bytes(range(32))


def listening_bus(key: bytes = KEY) -> tuple[Bus, list]:
    """A bus as `start` leaves it (its key set, its listener given), without PostgreSQL."""
    bus = Bus("postgresql+asyncpg://hoot:secret@db/hootkit")
    bus.key = key
    heard = []
    bus._hear = lambda kind, data, sender: heard.append((kind, data, sender))
    return bus, heard


def test_a_server_ignores_its_own_messages_and_ones_that_are_not_ours():
    bus, heard = listening_bus()
    assert bus.shared and bus.dsn == "postgresql://hoot:secret@db/hootkit"
    bus._heard(None, 1, "hootkit", bus.sealed(encode(bus.server_id, "control", {"device_id": "owl-1", "command": "stop"})))
    for junk in ("not json", "[]", '{"from": "b"}', '{"from": "b", "kind": 1, "data": {}}',
                 '{"from": "b", "kind": "control", "data": "stop"}', '{"from": "b", "kind": "x", "data": {"x": ' + "[" * 5000 + "]" * 5000 + "}}"):
        bus._heard(None, 1, "hootkit", junk)
        bus._heard(None, 1, "hootkit", bus.sealed(junk))  # signed, and still not a message
    bus._heard(None, 1, "hootkit", bus.sealed(encode("b", "control", {"device_id": "owl-1", "command": "stop"})))
    assert heard == [("control", {"device_id": "owl-1", "command": "stop"}, "b")]


def test_a_message_not_signed_with_the_stores_key_is_ignored_however_well_formed():
    """Any role that may connect to the database can NOTIFY on the channel; only Hootkit's servers know the key."""
    bus, heard = listening_bus()
    stranger, _ = listening_bus(key=b"k" * 32)
    body = encode("b", "control", {"device_id": "owl-1", "command": "stop"})
    signed = bus.sealed(body)
    signature, _, stamped = signed.partition(".")
    for forged in (body, stranger.sealed(body), "0" * 64 + "." + stamped, signature + "." + stamped.replace("stop", "pause"),
                   signature.upper() + "." + stamped, signature + ".", "." + stamped, "é" * 64 + "." + stamped,
                   "\ud800" * 64 + "." + stamped):
        bus._heard(None, 1, "hootkit", forged)
    assert heard == []
    bus._heard(None, 1, "hootkit", signed)
    assert heard == [("control", {"device_id": "owl-1", "command": "stop"}, "b")]


def test_a_signed_message_is_taken_once_and_only_while_it_is_fresh(monkeypatch):
    bus, heard = listening_bus()
    body = encode("b", "control", {"device_id": "owl-1", "command": "pause"})
    signed = bus.sealed(body)
    bus._heard(None, 1, "hootkit", signed)
    bus._heard(None, 1, "hootkit", signed)  # sent again by someone who saw it
    assert len(heard) == 1
    assert bus.sealed(body) != signed  # the same command sent twice by a server is two messages
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now - MAX_AGE_S - 1)
    old = bus.sealed(body)
    monkeypatch.setattr(time, "time", lambda: now + MAX_AGE_S + 1)
    early = bus.sealed(body)
    monkeypatch.setattr(time, "time", lambda: now)
    bus._heard(None, 1, "hootkit", old)
    bus._heard(None, 1, "hootkit", early)
    timeless = body[:-1] + ', "at": NaN, "n": 10}'
    bus._heard(None, 1, "hootkit", f"{_signature(KEY, timeless)}.{timeless}")
    assert len(heard) == 1
    first, second = bus.sealed(body), bus.sealed(body)
    bus._heard(None, 1, "hootkit", second)
    bus._heard(None, 1, "hootkit", first)  # an older message of the same sender, held back and sent later
    assert len(heard) == 2


def test_a_flood_of_a_servers_own_messages_leaves_no_memory_behind():
    bus, heard = listening_bus()
    for _ in range(1000):
        bus._heard(None, 1, "hootkit", bus.sealed(encode(bus.server_id, "limit", {"keys": ["ip:1"]})))
    assert heard == [] and bus._last_number == {}


def test_a_bus_is_not_started_without_a_key_of_32_bytes():
    bus = Bus("postgresql+asyncpg://hoot:secret@db/hootkit")
    with pytest.raises(ValueError, match="signing key"):
        asyncio.run(bus.start(lambda kind, data, sender: None, b"short"))


def test_a_signed_message_at_the_size_limit_fits_a_notify():
    bus, _ = listening_bus()
    body = encode("a" * 32, "news", {"device_id": "owl-1", "transcript": "为什么" * 3000})
    assert len(bus.sealed(body).encode()) < MAX_PAYLOAD


def test_on_sqlite_there_is_nobody_to_tell():
    bus = Bus("sqlite+aiosqlite:////tmp/hootkit.db")
    assert not bus.shared
    bus.send("control", {"device_id": "owl-1", "command": "stop"})  # nothing queued, nothing raised
    assert not bus._commands and not bus._news


def test_limit_changes_anyone_can_cause_never_crowd_out_a_teachers_command():
    """PostgreSQL away, and wrong logins from many addresses: each queues a limit change."""
    bus = Bus("postgresql+asyncpg://hoot:pw@db/hootkit", commands=COMMANDS, most_waiting=MOST_WAITING)
    for n in range(MAX_COMMANDS):
        bus.send("limit", {"limit": "login", "change": "failed", "keys": [f"ip:2001:db8::{n:x}"]})
    bus.send("control", {"device_id": "owl-1", "command": "stop"})
    waiting = [json.loads(payload)["kind"] for _queued, _kind, payload in bus._commands]
    assert waiting.count("limit") == MOST_WAITING["limit"] and waiting[-1] == "control"
