"""What a server does with pairing messages from the bus that are not ours (nothing claimed, nothing sent, nothing
raised), and how it lists its devices for the others."""

import time
from types import SimpleNamespace

from hootkit.gateway.elsewhere import Elsewhere
from hootkit.gateway.pairing import PairingDesk
from hootkit.store.bus import encode


class SentBus:
    shared = True

    def __init__(self):
        self.sent = []

    def send(self, kind: str, data: dict) -> None:
        self.sent.append((kind, data))


async def test_pairing_messages_that_are_not_ours_claim_no_code_and_answer_nothing():
    desk = PairingDesk()
    code = await desk.offer(SimpleNamespace(device_id="owl-1"), "10.0.0.7")
    elsewhere = Elsewhere(SimpleNamespace(pairing=desk, bus=SentBus()))
    good = {"request": "r1", "code": code, "class_id": 1, "class_name": "4B", "name": "", "by": "tom", "ip": "",
            "until": time.time() + 3.0}
    for junk in ({**good, "class_id": "1"}, {**good, "class_id": True}, {**good, "code": [code]},
                 {**good, "name": "x" * 1000}, {key: value for key, value in good.items() if key != "by"},
                 {**good, "until": "later"}, {**good, "until": float("nan")}, {**good, "until": float("inf")},
                 {**good, "class_id": 2**70}, {**good, "class_id": 0}, {**good, "until": time.time() + 3600},
                 {**good, "until": time.time() + 0.5}):  # the last: too late to answer
        elsewhere.hear("pair", junk, "b")
    for junk in ({"request": ["r1"], "failed": "no"}, {"request": "r1", "paired": "yes"}, {"request": "unknown", "failed": "no"},
                 {"request": "r1", "paired": {"device_id": 7, "name": "x", "class_id": 1}}):
        elsewhere.hear("pair answer", junk, "b")
    elsewhere.hear("pair", {**good, "code": other(code)}, "b")  # a code another server holds: not answered here
    assert [waiting.device_id for waiting in desk.waiting()] == ["owl-1"]
    assert elsewhere.hoot.bus.sent == [("hello", {})]  # only asked the new server "b" for its devices, once


def other(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_servers_list_of_devices_goes_in_parts_that_each_fit_a_message():
    """Device ids are up to 100 characters of anything, from unpaired devices too: each part must still send."""
    sessions = {f"{n:03d}" + "🦉" * 97: SimpleNamespace(device_id=f"{n:03d}" + "🦉" * 97, activity="pairing", held=None)
                for n in range(120)}
    bus = SentBus()
    Elsewhere(SimpleNamespace(bus=bus, gateway=SimpleNamespace(sessions=sessions)))._hello({})
    parts = [data for kind, data in bus.sent if kind == "devices"]
    assert len(parts) > 1 and {part["parts"] for part in parts} == {len(parts)}
    assert sorted(device for part in parts for device in part["devices"]) == sorted(sessions)
    assert all(encode("x" * 32, "devices", part) is not None for part in parts)
