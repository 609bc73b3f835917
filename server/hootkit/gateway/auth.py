"""Who may connect as a device (websocket or update download): a bearer token, or anyone on this machine when no tokens are set."""

import hmac
import ipaddress

from starlette.requests import HTTPConnection

from hootkit.settings import Settings


def device_token(conn: HTTPConnection) -> str | None:
    """The token from `Authorization: Bearer ...`, or `?token=` for browsers that cannot set headers."""
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return conn.query_params.get("token")


def device_id(conn: HTTPConnection) -> str:
    return conn.headers.get("device-id") or conn.query_params.get("device_id") or "unknown"


def refusal(conn: HTTPConnection, settings: Settings) -> str | None:
    """None when the device may connect, else the reason it may not."""
    if settings.device_tokens:
        token = device_token(conn)
        if token and any(hmac.compare_digest(token, allowed) for allowed in settings.device_tokens):
            return None
        return "unauthorized: a valid device token is required"
    host = conn.client.host if conn.client else ""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        if host in ("testclient", "localhost"):
            return None
    return "unauthorized: no device tokens are configured, so only local devices may connect"
