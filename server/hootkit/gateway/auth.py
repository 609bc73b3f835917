"""Who may connect as a device or call the teacher API: a bearer token, or anyone on this machine when no tokens are set."""

import hmac
import ipaddress

from starlette.requests import HTTPConnection

from hootkit.settings import Settings


def bearer_token(conn: HTTPConnection) -> str | None:
    """The token from `Authorization: Bearer ...`, or `?token=` for browsers that cannot set headers."""
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return conn.query_params.get("token")


def device_id(conn: HTTPConnection) -> str:
    return conn.headers.get("device-id") or conn.query_params.get("device_id") or "unknown"


def refusal(conn: HTTPConnection, settings: Settings) -> str | None:
    """None when the device may connect, else the reason it may not."""
    return _token_refusal(conn, settings.device_tokens, "device")


def teacher_refusal(conn: HTTPConnection, settings: Settings) -> str | None:
    """None when the caller may use the teacher API, else the reason it may not."""
    return _token_refusal(conn, settings.teacher_tokens, "teacher")


def _token_refusal(conn: HTTPConnection, tokens: list[str], who: str) -> str | None:
    if tokens:
        token = bearer_token(conn)
        if token and any(hmac.compare_digest(token, allowed) for allowed in tokens):
            return None
        return f"unauthorized: a valid {who} token is required"
    host = conn.client.host if conn.client else ""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        if host in ("testclient", "localhost"):
            return None
    return f"unauthorized: no {who} tokens are configured, so only this machine may connect"
