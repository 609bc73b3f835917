"""Pairing desk: each unpaired device gets a 6-digit code to show or say; a teacher's typed code finds it."""

import secrets
import time
from dataclasses import dataclass

ACTIVATION_TTL_S = 15 * 60  # a code given out in a XiaoZhi OTA answer, with no connection to hold it


@dataclass(eq=False)
class Waiting:
    """A device waiting with a code: over its connection (`session`), or announced by a XiaoZhi OTA call that
    was given its future `token` already (then it may also connect before it is paired, and joins the code)."""

    device_id: str
    address: str
    session: object | None = None
    token: str | None = None
    since: float = 0.0


class PairingDesk:
    """The codes of the unpaired devices waiting now. A connection's code dies with it; a code from a XiaoZhi
    OTA answer lives ACTIVATION_TTL_S. Each code remembers the address its device came from, so the gateway
    can cap how many devices one address keeps waiting (`pending`)."""

    def __init__(self):
        self._waiting: dict[str, Waiting] = {}  # code -> who waits with it

    def _new_code(self, waiting: Waiting) -> str:
        code = f"{secrets.randbelow(10**6):06d}"
        while code in self._waiting:
            code = f"{secrets.randbelow(10**6):06d}"
        self._waiting[code] = waiting
        return code

    def offer(self, session, address: str = "") -> str:
        """The code `session`'s device says: the one its OTA answer showed, if any, else a new one."""
        self._expire()
        for code, waiting in self._waiting.items():
            if waiting.token is not None and waiting.device_id == session.device_id:
                waiting.session = session
                return code
        return self._new_code(Waiting(session.device_id, address, session=session))

    def offer_activation(self, device_id: str, token: str, address: str) -> str:
        """A code for a XiaoZhi OTA answer that hands the device `token`; it replaces the device's older one."""
        self._expire()
        for code, waiting in list(self._waiting.items()):
            if waiting.token is not None and waiting.device_id == device_id:
                del self._waiting[code]
        return self._new_code(Waiting(device_id, address, token=token, since=time.monotonic()))

    def activating(self, device_id: str) -> bool:
        """Whether a XiaoZhi device announced by an OTA answer still waits to be paired."""
        self._expire()
        return any(w.token is not None and w.device_id == device_id for w in self._waiting.values())

    def pending(self, address: str, besides=None) -> int:
        """How many devices from `address` wait with a code now (not counting the session `besides`)."""
        self._expire()
        return sum(1 for w in self._waiting.values() if w.address == address and (besides is None or w.session is not besides))

    def claim(self, code: str) -> Waiting | None:
        """Who waits with this code (no longer waiting), or None."""
        self._expire()
        return self._waiting.pop(code.strip().replace(" ", ""), None)

    def withdraw(self, session) -> None:
        """`session` is gone: its code goes, but a code from an OTA answer stays for the device's next connection."""
        for code, waiting in list(self._waiting.items()):
            if waiting.session is session:
                if waiting.token is None:
                    del self._waiting[code]
                else:
                    waiting.session = None

    def _expire(self) -> None:
        oldest = time.monotonic() - ACTIVATION_TTL_S
        for code, waiting in list(self._waiting.items()):
            if waiting.token is not None and waiting.session is None and waiting.since < oldest:
                del self._waiting[code]
