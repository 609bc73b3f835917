"""Pairing desk: each unpaired device gets a 6-digit code to show or say; a teacher's typed code finds it.

Where several servers share a store, a new code is also reserved there (`reserve`), so no two servers show the
same code at once.
"""

import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

ACTIVATION_IDLE_S = 120.0  # a code from a XiaoZhi OTA answer, unheld by a connection, lives while /activate polls
TURNED_AWAY_S = 600.0  # a device a teacher turned away gets no new code for this long
TURNED_AWAY_KEPT = 1000  # turn-aways remembered at once (the oldest are forgotten first)
TURNED_AWAY = "turned away by a teacher"
RESERVE_TRIES = 5  # codes tried in the shared store before one is shown unreserved (it is unique on this server)


@dataclass(eq=False)
class Waiting:
    """A device waiting with a code: over its connection (`session`), or announced by a XiaoZhi OTA call that
    was given its future `token` already (then it may also connect before it is paired, and joins the code)."""

    device_id: str
    address: str
    session: object | None = None
    token: str | None = None
    since: float = 0.0  # an OTA code's last poll
    arrived: float = field(default_factory=time.monotonic)

    def shown(self) -> dict:
        """What staff see of a waiting device: never its code, which proves the teacher is beside the device."""
        return {"device_id": self.device_id, "address": self.address,
                "via": "connection" if self.session is not None else "xiaozhi-ota",
                "waiting_s": round(time.monotonic() - self.arrived, 1)}


class PairingDesk:
    """The codes of the unpaired devices waiting now. A connection's code dies with it; a code from a XiaoZhi
    OTA answer lives while its board polls /activate (ACTIVATION_IDLE_S). Each code remembers the address its device came from, so the gateway
    can cap how many devices one address keeps waiting (`pending`)."""

    def __init__(self):
        self._waiting: dict[str, Waiting] = {}  # code -> who waits with it
        self._turned_away: dict[tuple[str | None, str | None], float] = {}  # (device id, address) -> until
        self.reserve: Callable[[str], Awaitable[bool]] | None = None  # takes a code in the shared store, if any

    async def _new_code(self, waiting: Waiting) -> str:
        """A code no one waits with here, nor (where servers share a store) on another server. The device waits
        with it while it is reserved, so the caps count it."""
        taken = ""
        for _ in range(RESERVE_TRIES):
            code = self._unused_code(taken)
            self._waiting[code] = waiting
            if await self._reserved(code):
                return code
            if self._waiting.get(code) is waiting:
                del self._waiting[code]
            taken = code
        log.warning("pairing: %d codes in a row were taken on other servers; one more, not reserved", RESERVE_TRIES)
        code = self._unused_code(taken)
        self._waiting[code] = waiting
        return code

    def _unused_code(self, besides: str) -> str:
        """A random code nobody waits with here, other than `besides`."""
        code = besides
        while code == besides or code in self._waiting:
            code = f"{secrets.randbelow(10**6):06d}"
        return code

    async def _reserved(self, code: str) -> bool:
        if self.reserve is None:
            return True
        try:
            return await self.reserve(code)
        except Exception as error:  # the store is away: the code is unique on this server, as with one server
            log.warning("pairing: code not reserved in the store (%r); it is unique on this server only", error)
            return True

    def codes(self) -> list[str]:
        """The codes devices wait with here now."""
        self._expire()
        return list(self._waiting)

    async def offer(self, session, address: str = "", token: str | None = None) -> str:
        """The code `session`'s device says: the one its OTA answer showed, when the connection presents the
        token that answer handed out (only the board that was given it can), else a new one."""
        self._expire()
        for code, waiting in self._waiting.items():
            if (token and waiting.token is not None and waiting.session is None and waiting.device_id == session.device_id
                    and hmac.compare_digest(waiting.token, token)):
                waiting.session = session
                return code
        return await self._new_code(Waiting(session.device_id, address, session=session))

    async def offer_activation(self, device_id: str, token: str, address: str) -> str:
        """A code for a XiaoZhi OTA answer that hands the device `token`. It replaces the device's older one
        from the same address (the board asked again); codes another address got for the id stay."""
        self._expire()
        for code, waiting in list(self._waiting.items()):
            if waiting.token is not None and waiting.device_id == device_id and waiting.address == address and waiting.session is None:
                del self._waiting[code]
        return await self._new_code(Waiting(device_id, address, token=token, since=time.monotonic()))

    def activating(self, device_id: str) -> bool:
        """Whether a XiaoZhi device announced by an OTA answer still waits to be paired (it asks again and again,
        which keeps its code alive)."""
        self._expire()
        found = False
        for waiting in self._waiting.values():
            if waiting.token is not None and waiting.device_id == device_id:
                waiting.since, found = time.monotonic(), True
        return found

    def total(self) -> int:
        self._expire()
        return len(self._waiting)

    def pending(self, address: str, besides=None) -> int:
        """How many devices from `address` wait with a code now (not counting the session `besides`)."""
        self._expire()
        return sum(1 for w in self._waiting.values() if w.address == address and (besides is None or w.session is not besides))

    def claim(self, code: str) -> Waiting | None:
        """Who waits with this code (no longer waiting), or None."""
        self._expire()
        return self._waiting.pop(_typed(code), None)

    def put_back(self, code: str, waiting: Waiting) -> None:
        """A claimed code whose pairing could not be written: it waits again, as it did."""
        self._waiting.setdefault(_typed(code), waiting)

    def waiting(self) -> list[Waiting]:
        """Everyone waiting with a code now, longest first."""
        self._expire()
        return sorted(self._waiting.values(), key=lambda waiting: waiting.arrived)

    def turn_away(self, device_id: str | None = None, address: str | None = None) -> list[Waiting]:
        """Drop the codes of `device_id` and/or from `address` (a teacher does not know the device), and give it
        none for TURNED_AWAY_S; returns who waited with them."""
        gone = [(code, waiting) for code, waiting in self._waiting.items()
                if (device_id is None or waiting.device_id == device_id) and (address is None or waiting.address == address)]
        for code, _ in gone:
            del self._waiting[code]
        self._turned_away.pop((device_id, address), None)
        self._turned_away[(device_id, address)] = time.monotonic() + TURNED_AWAY_S
        while len(self._turned_away) > TURNED_AWAY_KEPT:
            del self._turned_away[next(iter(self._turned_away))]
        return [waiting for _, waiting in gone]

    def turned_away(self, device_id: str, address: str) -> bool:
        """Whether a teacher turned this device (by id, by address, or both) away less than TURNED_AWAY_S ago."""
        now = time.monotonic()
        for (device, where), until in list(self._turned_away.items()):
            if until <= now:
                del self._turned_away[(device, where)]
            elif (device is None or device == device_id) and (where is None or where == address):
                return True
        return False

    def withdraw(self, session) -> None:
        """`session` is gone: its code goes, but a code from an OTA answer stays for the device's next connection."""
        for code, waiting in list(self._waiting.items()):
            if waiting.session is session:
                if waiting.token is None:
                    del self._waiting[code]
                else:
                    waiting.session = None

    def _expire(self) -> None:
        oldest = time.monotonic() - ACTIVATION_IDLE_S
        for code, waiting in list(self._waiting.items()):
            if waiting.token is not None and waiting.session is None and waiting.since < oldest:
                del self._waiting[code]


def _typed(code: str) -> str:
    """A code as a teacher may type it ("429 173 "), as the desk keeps it."""
    return code.strip().replace(" ", "")
