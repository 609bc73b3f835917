"""Who may connect as a device: a paired device's token, a configured token, this machine, or else pairing."""

import hmac
import ipaddress
import secrets
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from hootkit.accounts.passwords import token_hash
from hootkit.settings import Settings

MAX_DEVICE_ID = 100


@dataclass(frozen=True)
class Admission:
    """How a connecting device is let in: as itself, to be paired first, or not at all (`refusal`)."""

    device_id: str
    needs_pairing: bool = False
    refusal: str | None = None
    by_token: bool = False  # a paired device's token or a configured device token let it in


def bearer_token(conn: HTTPConnection) -> str | None:
    """The token from `Authorization: Bearer ...`, or `?token=` for browsers that cannot set headers."""
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return conn.query_params.get("token")


def device_id(conn: HTTPConnection) -> str:
    return conn.headers.get("device-id") or conn.query_params.get("device_id") or "unknown"


FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def is_local(conn: HTTPConnection) -> bool:
    """A client on this machine itself, not a reverse proxy on it passing on someone else's request."""
    if any(name in conn.headers for name in FORWARDING_HEADERS):
        return False
    host = conn.client.host if conn.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("testclient", "localhost")


def matches(token: str | None, allowed: list[str]) -> bool:
    return bool(token) and any(hmac.compare_digest(token, candidate) for candidate in allowed)


def paired_refusal(device_id: str) -> str:
    return f"device {device_id} is paired: connect with its token, or ask a teacher to forget it"


async def admit_device(conn: HTTPConnection, settings: Settings, store) -> Admission:
    """A paired device's token names the device, and a paired device's id without its token is refused (no
    pairing code, nothing charged to it). With `device_tokens` set (or pairing off) any other device is
    refused; otherwise it must be paired, except on this machine with pairing = "remote" (developers)."""
    token = bearer_token(conn)
    claimed = device_id(conn)
    if len(claimed) > MAX_DEVICE_ID:
        return Admission(claimed[:MAX_DEVICE_ID], refusal=f"bad device id: at most {MAX_DEVICE_ID} characters")
    if token:
        device = await store.device_by_token(token_hash(token))
        if device is not None:
            return Admission(device.id, by_token=True)
    if await store.device(claimed) is not None:  # a paired id is its token's alone, on this machine too
        return Admission(claimed, refusal=paired_refusal(claimed))
    if matches(token, settings.device_tokens):
        return Admission(claimed, by_token=True)
    if settings.device_tokens:
        return Admission(claimed, refusal="unauthorized: a valid device token is required")
    if not token and settings.trust_local and is_local(conn) and settings.pairing != "all":
        return Admission(claimed)
    if settings.pairing == "off":
        return Admission(claimed, refusal="unauthorized: no device tokens are configured, so only this machine may connect")
    if claimed == "unknown":
        claimed = f"device-{secrets.token_hex(4)}"
    return Admission(claimed, needs_pairing=True)
