"""XiaoZhi boot calls: `POST /xiaozhi/ota/` tells a stock device where to connect (and, unpaired, which code to
show), and `POST /xiaozhi/ota/activate` answers 202 until a teacher has typed that code, then 200.

A XiaoZhi device stores every key of the answer's `websocket` entry. So an unpaired device is handed its
future token with its code (the teacher's typed code binds that token to it), and a paired device's answer
leaves the token out, which keeps the one it stored; nobody gets a paired device's token by asking."""

import json
import secrets
import time

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from hootkit.gateway.auth import MAX_DEVICE_ID, admit_device
from hootkit.gateway.native import client_address
from hootkit.gateway.pairing import TURNED_AWAY
from hootkit.gateway.xiaozhi import PATH

router = APIRouter(prefix="/xiaozhi/ota")
PROTOCOL_VERSION = 1
MAX_BODY_BYTES = 16 * 1024


def websocket_url(request: Request) -> str:
    base = str(request.base_url).rstrip("/")
    return ("wss" if base.startswith("https") else "ws") + base[base.index(":"):] + PATH


async def device_info(request: Request) -> tuple[str, dict]:
    """The device id (its MAC, from the `Device-Id` header) and the system info it posted."""
    device_id = (request.headers.get("device-id") or "").strip().lower()
    if not device_id or len(device_id) > MAX_DEVICE_ID:
        raise HTTPException(400, "a Device-Id header (the device's MAC address) is needed")
    too_big = HTTPException(413, f"the system info is over {MAX_BODY_BYTES} bytes")
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():  # read no further than the limit, whatever the header said
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_big
    try:
        info = json.loads(bytes(body) or b"{}")
    except (ValueError, RecursionError):
        raise HTTPException(400, "the system info is not JSON") from None
    return device_id, info if isinstance(info, dict) else {}


def staged_firmware(settings, running: str) -> dict:
    """The firmware a board should run: the staged image when there is one, else its own version (no update)."""
    if settings.xiaozhi_firmware_version and settings.xiaozhi_firmware_url:
        return {"version": settings.xiaozhi_firmware_version, "url": settings.xiaozhi_firmware_url}
    return {"version": running, "url": ""}


@router.post("/")
@router.post("", include_in_schema=False)
async def ota(request: Request) -> JSONResponse:
    hoot = request.app.state.hoot
    device_id, info = await device_info(request)
    application = info.get("application") if isinstance(info.get("application"), dict) else {}
    answer = {
        "server_time": {"timestamp": int(time.time() * 1000), "timezone_offset": -time.timezone // 60},
        "firmware": staged_firmware(hoot.settings, str(application.get("version", ""))),
        "websocket": {"url": websocket_url(request), "version": PROTOCOL_VERSION},
    }
    if await hoot.store.device(device_id) is not None:  # paired: it keeps the token it stored
        return JSONResponse(answer)
    admission = await admit_device(request, hoot.settings, hoot.store)
    if admission.refusal:
        raise HTTPException(401, admission.refusal)
    answer["websocket"]["token"] = ""
    if admission.needs_pairing:
        address = client_address(request)
        if hoot.pairing.turned_away(device_id, address):
            raise HTTPException(403, f"{TURNED_AWAY}: ask the teacher, then restart the device later")
        cap, total = hoot.settings.max_pending_pairings_per_address, hoot.settings.max_pending_pairings
        if (cap and hoot.pairing.pending(address) >= cap) or (total and hoot.pairing.total() >= total):
            raise HTTPException(503, "try again later: too many devices from this address are waiting to be paired")
        token = secrets.token_urlsafe(24)
        code = await hoot.pairing.offer_activation(device_id, token, address)
        answer["websocket"]["token"] = token
        answer["activation"] = {"code": code, "message": f"Hootkit pairing code {code}",
                                "challenge": secrets.token_hex(16), "timeout_ms": 30000}
    return JSONResponse(answer)


@router.post("/activate")
async def activate(request: Request) -> JSONResponse:
    """200 once a teacher has paired the device, 202 while its code waits (the device asks again)."""
    hoot = request.app.state.hoot
    device_id, _ = await device_info(request)
    if await hoot.store.device(device_id) is not None:
        return JSONResponse({"message": "paired"}, status_code=200)
    if hoot.pairing.activating(device_id):
        return JSONResponse({"message": "waiting for a teacher to type the code"}, status_code=202)
    raise HTTPException(404, "no pairing code is waiting for this device: restart it for a new one")
