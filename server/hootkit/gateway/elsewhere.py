"""What the other Hootkit servers sharing the store tell this one, and what this one tells them (over the bus).

Teachers' commands go to every server, which applies them to the devices it holds and remembers them for
devices that may connect to it later; dashboard news made anywhere shows on every server's dashboards; each
server knows which devices are online on the others, for its device list; and a wrong password or pairing code
counts against the limits on every server. A pairing code typed on one server pairs a device that waits on
another: the code goes to every server, and the one whose device says it answers.

Each server says it is alive every ALIVE_S; the devices of a server not heard for GONE_S (it crashed, or lost
PostgreSQL) are shown offline. A server that starts listening (at start, or after losing PostgreSQL), or hears
from a server it does not know, says hello; each server answers with the whole list of the devices it holds
(in parts), which replaces what the others knew of it. A server that starts listening also reads the teachers'
holds again from the store, in case it missed one meanwhile.
"""

import asyncio
import json
import logging
import math
import time
import uuid
from dataclasses import asdict, fields

from hootkit.gateway.pair_device import PairingAsk, PairingFailed, pair_waiting
from hootkit.gateway.recorder import device_state
from hootkit.lessons.classroom import UnknownName

log = logging.getLogger(__name__)

CONTROLS = ("pause", "resume", "stop")
COMMANDS = ("control", "assign", "end lesson", "forget", "pair", "pair answer", "limit", "alive", "hello",
            "devices")  # never dropped (news may be), and sent before news
# a wrong login anyone can make changes a limit: those never crowd out teachers' commands; one heartbeat or hello
# waiting is enough; a server's list of its devices goes in parts of at most SNAPSHOT_BYTES
MOST_WAITING = {"limit": 1000, "alive": 1, "hello": 1, "devices": 200}
SNAPSHOT_BYTES = 5000  # the devices' JSON in one "devices" message (a NOTIFY carries under 8000 bytes)
LIMIT_CHANGES = ("failed", "forgive", "succeeded")
MAX_LIMIT_KEYS, MAX_KEY_CHARS = 4, 300
ALIVE_S = 10.0  # each server says it is alive this often
GONE_S = 35.0  # a server not heard from for this long is gone, and so are its devices
PAIR_WAIT_S = 3.0  # how long a code no server here knows waits for another server's answer
PAIR_MARGIN_S = 1.0  # a request with less time left than this is not taken up: its answer would come too late
MAX_FIELD_CHARS = 300
BUS_KEY = "bus signing key"  # the name of the servers' shared key in the store
MAX_ID = 2**63 - 1  # the largest id PostgreSQL and SQLite store


# what a "pair" message must carry; PairingAsk's fields are plain text or whole numbers, each checked by type
PAIR_FIELDS = {"request": str, "code": str, **{field.name: field.type for field in fields(PairingAsk)}}
if not all(kind in (str, int) for kind in PAIR_FIELDS.values()):
    raise TypeError("a pairing request's fields must be str or int, to be checked as they come from the bus")


class OthersAway(Exception):
    """The other servers cannot be asked now (this server is not listening on the bus)."""


class Elsewhere:
    """The other servers, seen from this one: `online` holds the state of each device connected to one of them."""

    def __init__(self, hoot):
        self.hoot = hoot
        self.online: dict[str, dict] = {}  # device id -> its last "device" news from the server holding it
        self._held_by: dict[str, str] = {}  # device id -> that server's id
        self._tasks: set[asyncio.Task] = set()
        self._asked: dict[str, asyncio.Future] = {}  # pairing request id -> the answer it waits for
        self._last_heard: dict[str, float] = {}  # server id -> when it was last heard from (monotonic)
        self._snapshots: dict[str, tuple[str, set[str], set[int]]] = {}  # server -> (list id, devices, parts heard)

    async def start(self) -> None:
        hoot = self.hoot
        if not hoot.bus.shared:  # one server (SQLite): nobody to tell, no work per piece of news
            return
        hoot.live.relay = lambda kind, device_id, data: hoot.bus.send("news", {"kind": kind, "device_id": device_id,
                                                                                "data": data})
        for name, limit in self._limits().items():
            limit.share = lambda change, keys, name=name: hoot.bus.send("limit", {"limit": name, "change": change,
                                                                                 "keys": keys})
        hoot.bus.on_listening = self._listening
        hoot.pairing.reserve = lambda code: hoot.store.reserve_code(code, hoot.bus.server_id, GONE_S)
        await hoot.bus.start(self.hear, await hoot.store.shared_key(BUS_KEY))
        self._spawn(self._beat())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.hoot.bus.shared:  # this server's codes are free at once, not after GONE_S
            try:
                await asyncio.wait_for(self.hoot.store.keep_codes(self.hoot.bus.server_id, []), 2)
            except Exception as error:
                log.warning("pairing: this server's codes are left to expire (%r)", error)

    def _limits(self) -> dict:
        return {"login": self.hoot.login_failures, "pair": self.hoot.pair_failures}

    # -- what this server tells the others ------------------------------------------------------

    def control(self, device_id: str, command: str) -> None:
        self.hoot.bus.send("control", {"device_id": device_id, "command": command})

    def assign(self, device_id: str, lesson_id: str) -> None:
        self.hoot.bus.send("assign", {"device_id": device_id, "lesson_id": lesson_id})

    def end_lesson(self, device_id: str) -> None:
        self.hoot.bus.send("end lesson", {"device_id": device_id})

    def forget(self, device_id: str, reason: str) -> None:
        self.hoot.bus.send("forget", {"device_id": device_id, "reason": reason})

    async def pair(self, code: str, ask: PairingAsk) -> dict | None:
        """Ask the other servers to pair the device waiting there with `code`: what the one holding it answers,
        None when none answers within PAIR_WAIT_S; raises PairingFailed with its refusal, OthersAway when they
        cannot be asked. A request carries its deadline: a server that hears it late leaves the code alone."""
        if not self.hoot.bus.shared:
            return None
        if not self.hoot.bus.listening.is_set():
            raise OthersAway("the other Hootkit servers cannot be asked now; try again in a moment")
        request = uuid.uuid4().hex
        self._asked[request] = answer = asyncio.get_running_loop().create_future()
        self.hoot.bus.send("pair", {"request": request, "code": code, "until": time.time() + PAIR_WAIT_S, **asdict(ask)})
        try:
            said = await asyncio.wait_for(answer, PAIR_WAIT_S)
        except TimeoutError:
            return None
        finally:
            del self._asked[request]
        if "failed" in said:
            raise PairingFailed(said["failed"])
        return said["paired"]

    # -- what the others tell this one ----------------------------------------------------------

    async def _beat(self) -> None:
        """Say this server is alive, show the silent servers' devices offline, renew this server's codes."""
        while True:
            self.hoot.bus.send("alive", {})
            self.sweep(time.monotonic())
            try:
                await asyncio.wait_for(self.hoot.store.keep_codes(self.hoot.bus.server_id, self.hoot.pairing.codes()),
                                       ALIVE_S / 2)
            except Exception as error:  # PostgreSQL away or slow: tried again at the next beat
                log.warning("pairing: this server's codes could not be renewed in the store (%r)", error)
            await asyncio.sleep(ALIVE_S)

    def sweep(self, now: float) -> None:
        """Show offline the devices of the servers not heard from for GONE_S, and forget those servers."""
        for device_id, holder in list(self._held_by.items()):
            if now - self._last_heard.get(holder, 0.0) > GONE_S:
                log.warning("bus: server %s not heard from for %g s; %s shown offline", holder[:8], GONE_S, device_id)
                self._gone(device_id)
        for server, heard in list(self._last_heard.items()):
            if now - heard > GONE_S:
                del self._last_heard[server]
                self._snapshots.pop(server, None)

    def _gone(self, device_id: str) -> None:
        del self.online[device_id], self._held_by[device_id]
        self.hoot.live.publish_here("device", device_id, {"online": False, "activity": "offline", "paused": False})

    def _listening(self) -> None:
        """This server listens (again): ask the others for their devices, tell them its own (a hello it missed
        while away goes unanswered otherwise), and read the holds it may have missed."""
        self.hoot.bus.send("hello", {})
        self._hello({})
        self._spawn(self._reload_holds())

    async def _reload_holds(self) -> None:
        """Apply the pauses and stops kept in the store that this server missed. Only holds are added: a hold
        this server has and the store lacks may be one whose write failed, or is still on its way, so it stands;
        a device whose hold changed here after the read began is left as it is."""
        began = time.monotonic()
        try:
            holds = await self.hoot.store.holds()
        except Exception as error:  # the store is away: the holds this server heard of stand
            log.warning("bus: the teachers' holds could not be read again (%r)", error)
            return
        classroom = self.hoot.classroom
        for device_id, command in holds.items():
            if classroom.held.get(device_id) != command and classroom.held_changed.get(device_id, began - 1) < began:
                classroom.control(device_id, command)
                for session in self.hoot.gateway.sessions_of(device_id):
                    session.control(command)

    def _hello(self, _data: dict) -> None:
        """Another server asks which devices this one holds: all of them, in parts that each fit a message, under
        one list id."""
        parts: list[dict] = [{}]
        size = 0
        for session in list(self.hoot.gateway.sessions.values()):
            state = device_state(session)
            entry = len(json.dumps({session.device_id: state}, ensure_ascii=False).encode())
            if parts[-1] and size + entry > SNAPSHOT_BYTES:
                parts.append({})
                size = 0
            parts[-1][session.device_id] = state
            size += entry
        snapshot = uuid.uuid4().hex
        for number, part in enumerate(parts):
            self.hoot.bus.send("devices", {"snapshot": snapshot, "part": number, "parts": len(parts), "devices": part})

    def _devices(self, data: dict, sender: str) -> None:
        """A part of `sender`'s list of its devices; once every part is in, its devices not listed are gone."""
        snapshot, number, parts, devices = data.get("snapshot"), data.get("part"), data.get("parts"), data.get("devices")
        if not (isinstance(snapshot, str) and type(number) is int and type(parts) is int and 0 <= number < parts
                and isinstance(devices, dict) and all(isinstance(state, dict) for state in devices.values())):
            log.warning("bus: ignored a list of devices that is not ours")
            return
        if self._snapshots.get(sender, ("",))[0] != snapshot:
            self._snapshots[sender] = (snapshot, set(), set())
        _, listed, heard = self._snapshots[sender]
        listed.update(devices)
        heard.add(number)
        for device_id, state in devices.items():
            self._news(device_id, {"kind": "device", "data": state}, sender)
        if len(heard) == parts:
            del self._snapshots[sender]
            for device_id, holder in list(self._held_by.items()):
                if holder == sender and device_id not in listed:
                    self._gone(device_id)

    def hear(self, kind: str, data: dict, sender: str) -> None:
        if sender not in self._last_heard and kind not in ("hello", "devices"):  # new here, or back after silence
            self.hoot.bus.send("hello", {})
        self._last_heard[sender] = time.monotonic()
        if kind == "devices":
            self._devices(data, sender)
            return
        about_no_device = {"limit": self._limit, "pair": self._pair, "pair answer": self._pair_answer,
                           "hello": self._hello, "alive": lambda _data: None}.get(kind)
        if about_no_device is not None:
            about_no_device(data)
            return
        device_id = data.get("device_id")
        if not isinstance(device_id, str):
            log.warning("bus: %s without a device id ignored", kind)
            return
        if kind == "news":
            self._news(device_id, data, sender)
        elif kind == "control" and data.get("command") in CONTROLS:
            self.hoot.classroom.control(device_id, data["command"])
            for session in self.hoot.gateway.sessions_of(device_id):
                session.control(data["command"])
        elif kind == "assign" and isinstance(data.get("lesson_id"), str):
            self._assign(device_id, data["lesson_id"])
        elif kind == "end lesson":
            self.hoot.classroom.end(device_id)
            for session in self.hoot.gateway.sessions_of(device_id):
                session.end_lesson()
        elif kind == "forget" and isinstance(data.get("reason"), str):
            self.hoot.classroom.held.pop(device_id, None)
            self.hoot.gateway.end(device_id, data["reason"][:120])
        else:
            log.warning("bus: ignored %r about %s", kind, device_id)

    def _limit(self, data: dict) -> None:
        limit, change, keys = self._limits().get(data.get("limit")), data.get("change"), data.get("keys")
        if limit is None or change not in LIMIT_CHANGES or not isinstance(keys, list) or len(keys) > MAX_LIMIT_KEYS \
                or not all(isinstance(key, str) and len(key) <= MAX_KEY_CHARS for key in keys):
            log.warning("bus: ignored a limit change that is not ours")
            return
        limit.heard(change, keys)

    def _pair(self, data: dict) -> None:
        if not all(_fits(data.get(name), kind) for name, kind in PAIR_FIELDS.items()) \
                or type(data.get("until")) is not float or not math.isfinite(data["until"]) or data["until"] - time.time() > PAIR_WAIT_S + 1:
            log.warning("bus: ignored a pairing request that is not ours")
            return
        if time.time() > data["until"] - PAIR_MARGIN_S:  # held up on the way: the teacher has been answered
            log.warning("bus: a pairing request came too late to answer; its code, if here, is kept")
            return
        waiting = self.hoot.pairing.claim(data["code"])
        if waiting is None:  # not waiting here: the server it waits on answers
            return
        ask = PairingAsk(**{field.name: data[field.name] for field in fields(PairingAsk)})  # checked above
        self._spawn(self._pair_here(data["request"], waiting, ask))

    async def _pair_here(self, request: str, waiting, ask: PairingAsk) -> None:
        try:
            said = {"paired": await pair_waiting(self.hoot, waiting, ask)}
        except PairingFailed as failure:
            said = {"failed": str(failure)}
        except Exception:  # the store is down: the teacher is told, and the device may ask for a new code
            log.exception("pairing %s asked by another server failed", waiting.device_id)
            said = {"failed": f"device {waiting.device_id} could not be paired (a server error); ask it for a new code"}
        self.hoot.bus.send("pair answer", {"request": request, **said})

    def _pair_answer(self, data: dict) -> None:
        request, paired, failed = data.get("request"), data.get("paired"), data.get("failed")
        answer = self._asked.get(request) if isinstance(request, str) else None
        if answer is None or answer.done() or not (isinstance(paired, dict) or isinstance(failed, str)):
            return
        if isinstance(paired, dict):
            if not (isinstance(paired.get("device_id"), str) and isinstance(paired.get("name"), str)
                    and type(paired.get("class_id")) is int):
                return
            answer.set_result({"paired": {key: paired[key] for key in ("device_id", "name", "class_id")}})
        else:
            answer.set_result({"failed": failed[:MAX_FIELD_CHARS]})

    def _spawn(self, work) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _news(self, device_id: str, message: dict, sender: str) -> None:
        kind, data = message.get("kind"), message.get("data")
        if not isinstance(kind, str) or not isinstance(data, dict):
            return
        if kind == "device":
            if data.get("online"):
                self.online[device_id], self._held_by[device_id] = data, sender
            elif self._held_by.get(device_id) == sender:  # not a late "offline" from the server it moved away from
                del self.online[device_id], self._held_by[device_id]
        self.hoot.live.publish_here(kind, device_id, {key: value for key, value in data.items() if key != "device_id"})

    def _assign(self, device_id: str, lesson_id: str) -> None:
        try:
            [run] = self.hoot.classroom.assign(lesson_id, [device_id]).values()
        except UnknownName:
            log.warning("bus: lesson %r assigned elsewhere is not in this server's lessons", lesson_id)
            return
        for session in self.hoot.gateway.sessions_of(device_id):
            self._spawn(self._start(session, run))

    async def _start(self, session, run) -> None:
        try:
            await session.start_lesson(run)
        except Exception:  # ModelMissing included: the device has been told; the teacher sees it in the log
            log.exception("lesson %s could not start on %s", run.lesson.id, session.device_id)


def _fits(value, kind: type) -> bool:
    """A pairing field from the bus: exactly its type, text within MAX_FIELD_CHARS, a number a database id can be."""
    if type(value) is not kind:
        return False
    return len(value) <= MAX_FIELD_CHARS if kind is str else 0 < value <= MAX_ID
