"""What the other Hootkit servers sharing the store tell this one, and what this one tells them (over the bus).

Teachers' commands go to every server, which applies them to the devices it holds and remembers them for
devices that may connect to it later; dashboard news made anywhere shows on every server's dashboards; each
server knows which devices are online on the others, for its device list; and a wrong password or pairing code
counts against the limits on every server.
"""

import asyncio
import logging

from hootkit.lessons.classroom import UnknownName

log = logging.getLogger(__name__)

CONTROLS = ("pause", "resume", "stop")
COMMANDS = ("control", "assign", "end lesson", "forget")  # the bus never drops these (news it may)
LIMIT_CHANGES = ("failed", "forgive", "succeeded")
MAX_LIMIT_KEYS, MAX_KEY_CHARS = 4, 300


class Elsewhere:
    """The other servers, seen from this one: `online` holds the state of each device connected to one of them."""

    def __init__(self, hoot):
        self.hoot = hoot
        self.online: dict[str, dict] = {}  # device id -> its last "device" news from the server holding it
        self._held_by: dict[str, str] = {}  # device id -> that server's id
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        hoot = self.hoot
        if not hoot.bus.shared:  # one server (SQLite): nobody to tell, no work per piece of news
            return
        hoot.live.relay = lambda kind, device_id, data: hoot.bus.send("news", {"kind": kind, "device_id": device_id,
                                                                                "data": data})
        for name, limit in self._limits().items():
            limit.share = lambda change, keys, name=name: hoot.bus.send("limit", {"limit": name, "change": change,
                                                                                 "keys": keys})
        await hoot.bus.start(self.hear)

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

    # -- what the others tell this one ----------------------------------------------------------

    def hear(self, kind: str, data: dict, sender: str) -> None:
        if kind == "limit":
            self._limit(data)
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
            task = asyncio.get_running_loop().create_task(self._start(session, run))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _start(self, session, run) -> None:
        try:
            await session.start_lesson(run)
        except Exception:  # ModelMissing included: the device has been told; the teacher sees it in the log
            log.exception("lesson %s could not start on %s", run.lesson.id, session.device_id)
