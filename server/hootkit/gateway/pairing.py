"""Pairing desk: each unpaired device online gets a 6-digit code to say; a teacher's typed code finds it."""

import secrets


class PairingDesk:
    """The codes of the unpaired devices that are connected now; a code dies with its connection.

    Each code remembers the address its device connected from, so the gateway can cap how many devices
    one address keeps waiting (`pending`)."""

    def __init__(self):
        self._waiting: dict[str, tuple[object, str]] = {}  # code -> (session, client address)

    def offer(self, session, address: str = "") -> str:
        code = f"{secrets.randbelow(10**6):06d}"
        while code in self._waiting:
            code = f"{secrets.randbelow(10**6):06d}"
        self._waiting[code] = (session, address)
        return code

    def pending(self, address: str, besides=None) -> int:
        """How many devices from `address` wait with a code now (not counting the session `besides`)."""
        return sum(1 for session, where in self._waiting.values() if where == address and session is not besides)

    def claim(self, code: str):
        """The session waiting with this code (no longer waiting), or None."""
        waiting = self._waiting.pop(code.strip().replace(" ", ""), None)
        return waiting[0] if waiting is not None else None

    def withdraw(self, session) -> None:
        for code, (waiting, _address) in list(self._waiting.items()):
            if waiting is session:
                del self._waiting[code]
