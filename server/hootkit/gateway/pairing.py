"""Pairing desk: each unpaired device online gets a 6-digit code to say; a teacher's typed code finds it."""

import secrets


class PairingDesk:
    """The codes of the unpaired devices that are connected now; a code dies with its connection."""

    def __init__(self):
        self._waiting: dict[str, object] = {}

    def offer(self, session) -> str:
        code = f"{secrets.randbelow(10**6):06d}"
        while code in self._waiting:
            code = f"{secrets.randbelow(10**6):06d}"
        self._waiting[code] = session
        return code

    def claim(self, code: str):
        """The session waiting with this code (no longer waiting), or None."""
        return self._waiting.pop(code.strip().replace(" ", ""), None)

    def withdraw(self, session) -> None:
        for code, waiting in list(self._waiting.items()):
            if waiting is session:
                del self._waiting[code]
