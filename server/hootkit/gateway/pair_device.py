"""Pairing one waiting device into a class: its token in the store, the audit row, the news, and the device told."""

from dataclasses import dataclass

from hootkit.accounts.passwords import new_token, token_hash
from hootkit.gateway.pairing import Waiting
from hootkit.store.db import Conflict

WELCOME = "Thank you! Now I'm ready. You can talk to me."


class PairingFailed(Exception):
    """The code was right but the device could not be paired (paired meanwhile, or gone); says what to do."""


@dataclass(frozen=True)
class PairingAsk:
    """What a teacher asked: the class (already checked to be in their reach), the device's name, who and from where."""

    class_id: int
    class_name: str
    name: str
    by: str
    ip: str


async def pair_waiting(hoot, waiting: Waiting, ask: PairingAsk) -> dict:
    """Pair the device that waited with a claimed code, on the server that holds its connection or code."""
    token = waiting.token or new_token()  # a XiaoZhi device was handed its token in its OTA answer already
    name = ask.name.strip() or waiting.device_id
    audit = {"actor": ask.by, "action": "pair", "target": waiting.device_id, "detail": f"class {ask.class_name}",
             "ip": ask.ip}
    try:
        await hoot.store.pair_device(waiting.device_id, name, ask.class_id, token_hash(token), audit=audit)
    except Conflict as conflict:  # paired by another connection meanwhile: forgetting it is a separate choice
        raise PairingFailed(str(conflict)) from None
    session = waiting.session
    if waiting.token is None and session not in hoot.gateway.sessions_of(waiting.device_id):  # gone meanwhile
        await hoot.store.forget_device(waiting.device_id)
        raise PairingFailed(f"device {waiting.device_id} disconnected while it was being paired; ask it for a new code")
    hoot.live.publish("paired", waiting.device_id, {"name": name, "class_id": ask.class_id})
    if session is not None and session in hoot.gateway.sessions_of(waiting.device_id):
        session.paired(token, name)
        hoot.gateway.welcome(session, greeting=WELCOME)
    return {"device_id": waiting.device_id, "name": name, "class_id": ask.class_id}
