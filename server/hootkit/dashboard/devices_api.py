"""The classroom API under /api: devices and what they do, pairing, classes, accounts, and pause/resume/stop."""

import asyncio
import json
import logging
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hootkit.accounts.access import Caller, visible_class_ids, visible_device_ids
from hootkit.accounts.passwords import hash_password, weakness
from hootkit.dashboard.reach import class_device_ids, class_in_reach, device_ids_in_reach
from hootkit.gateway.mcp import ToolError
from hootkit.gateway.elsewhere import MAX_ID, OthersAway
from hootkit.gateway.pair_device import PairingAsk, PairingFailed, pair_waiting
from hootkit.gateway.pairing import TURNED_AWAY
from hootkit.gateway.recorder import device_state
from hootkit.gateway.session import HOLDS
from hootkit.dashboard.logins import admin, caller, refuse, staff
from hootkit.lessons.progress import progress
from hootkit.store.db import Conflict, StoreBusy

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api")


class PairRequest(BaseModel):
    code: str = Field(pattern=r"^\s*\d{3}\s?\d{3}\s*$", description="the 6 digits the device says")
    class_id: int = Field(strict=True, ge=1, le=MAX_ID)
    name: str = Field(default="", max_length=60)


class NewClass(BaseModel):
    name: str = Field(min_length=1, max_length=60)
    teacher: str | None = Field(default=None, max_length=100, description="admins may name the teacher")


class DeviceChange(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=60)
    class_id: int | None = None
    parent: str | None = Field(default=None, max_length=100, description="a parent account's name; '' unlinks")


class NewAccount(BaseModel):
    username: str = Field(min_length=2, max_length=100, pattern=r"^[\w.@-]+$")
    password: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "teacher", "parent"]


class Control(BaseModel):
    command: Literal["pause", "resume", "stop"]


@router.get("/devices")
async def list_devices(request: Request, who: Caller = Depends(caller)) -> dict:
    """The caller's devices: paired ones from the store, and for admins any device online or with a lesson."""
    hoot = request.app.state.hoot
    visible = await visible_device_ids(hoot.store, who)
    classes = {classroom.id: classroom.name for classroom in await hoot.store.classes()}
    shown: dict[str, dict] = {}
    for device in await hoot.store.devices():
        if visible is None or device.id in visible:
            shown[device.id] = _offline(device.id) | {
                "name": device.name, "paired": True, "class_id": device.class_id,
                "class_name": classes.get(device.class_id),
                "last_seen": device.last_seen.isoformat() if device.last_seen else None}
    for device_id in hoot.classroom.runs.keys() | hoot.classroom.held.keys():
        if visible is None:
            shown.setdefault(device_id, _offline(device_id))
    for session in hoot.gateway.sessions.values():
        if session.pairing_code is not None or (visible is not None and session.device_id not in visible):
            continue
        shown.setdefault(session.device_id, _offline(session.device_id))
        tools = hoot.gateway.tools_of(session.device_id)
        shown[session.device_id] |= device_state(session) | {"session_id": session.session_id, "flags": list(session.flags),
                                                             "tools": tools.names() if tools is not None else []}
    for device_id, state in hoot.elsewhere.online.items():  # online on another server sharing the store
        if device_id in hoot.gateway.sessions or state.get("activity") == "pairing" or \
                (visible is not None and device_id not in visible):
            continue
        shown.setdefault(device_id, _offline(device_id))
        shown[device_id] |= {key: state[key] for key in ("online", "activity", "paused") if key in state}
    for device_id, device in shown.items():
        run = hoot.classroom.runs.get(device_id)
        for session in hoot.gateway.sessions_of(device_id):
            run = session.lesson or run
        device["lesson"] = progress(run)
        if not device["online"] and device_id in hoot.classroom.held:
            device["activity"] = HOLDS[hoot.classroom.held[device_id]]
            device["paused"] = True
    return {"devices": sorted(shown.values(), key=lambda device: (device["class_name"] or "", device["name"]))}


def _offline(device_id: str) -> dict:
    return {"device_id": device_id, "name": device_id, "paired": False, "class_id": None, "class_name": None,
            "online": False, "activity": "offline", "paused": False, "lesson": None, "flags": [], "last_seen": None,
            "tools": []}


@router.delete("/devices/{device_id}/lesson")
async def end_lesson(device_id: str, request: Request, who: Caller = Depends(staff)) -> dict:
    """End the device's lesson now: it says the closing words and goes back to free talk."""
    hoot = request.app.state.hoot
    await device_ids_in_reach(request, who, [device_id])
    run = hoot.classroom.end(device_id)
    for session in hoot.gateway.sessions_of(device_id):
        run = session.end_lesson() or run
    await hoot.store.end_assignment(device_id)
    if run is None:
        raise HTTPException(404, f"device {device_id!r} has no lesson")
    hoot.elsewhere.end_lesson(device_id)
    await hoot.store.audit(who.name, "end lesson", device_id, ip=who.ip)
    return {"device_id": device_id, "ended": progress(run)}


@router.post("/devices/{device_id}/control")
async def control_device(device_id: str, control: Control, request: Request, who: Caller = Depends(staff)) -> dict:
    await device_ids_in_reach(request, who, [device_id])
    return await _control(request, who, [device_id], control.command, device_id)


@router.post("/classes/{class_id}/control")
async def control_class(class_id: int, control: Control, request: Request, who: Caller = Depends(staff)) -> dict:
    device_ids = await class_device_ids(request, who, [class_id])
    return await _control(request, who, device_ids, control.command, f"class {class_id}")


async def _control(request: Request, who: Caller, device_ids: list[str], command: str, target: str) -> dict:
    """Pause, resume or stop devices now (online ones stop talking at once) and when they next connect: applied
    here and sent to the other servers first, then kept in the store."""
    hoot = request.app.state.hoot
    results = []
    for device_id in device_ids:
        hoot.classroom.control(device_id, command)
        sessions = hoot.gateway.sessions_of(device_id)
        for session in sessions:
            try:
                session.control(command)
            except Exception:  # one device that fails does not leave the rest of the class half done
                log.exception("%s on %s failed", command, device_id)
        hoot.elsewhere.control(device_id, command)
        results.append({"device_id": device_id, "online": bool(sessions) or device_id in hoot.elsewhere.online,
                        "activity": sessions[0].activity if sessions else HOLDS.get(command, "offline")})
    try:
        await hoot.store.hold(device_ids, command, who.name)
        if command == "stop":
            for device_id in device_ids:
                await hoot.store.end_assignment(device_id)
    except Exception:  # it holds on the servers running now; one started later will not know of it
        log.exception("%s of %s is not kept in the store", command, target)
    await hoot.store.audit(who.name, command, target, ip=who.ip)
    return {"devices": results}


class ToolCall(BaseModel):
    arguments: dict = {}


def _tools(hoot, device_id: str):
    tools = hoot.gateway.tools_of(device_id)
    if tools is None:
        raise HTTPException(404, f"device {device_id!r} is not online with tools (XiaoZhi devices offer them over MCP)")
    return tools


@router.get("/devices/{device_id}/tools")
async def device_tools(device_id: str, request: Request, who: Caller = Depends(staff)) -> dict:
    """The tools the device offers (volume, brightness, its screen...), with their input schemas."""
    hoot = request.app.state.hoot
    await device_ids_in_reach(request, who, [device_id])
    allowed = hoot.settings.device_tools
    return {"device_id": device_id, "tools": [tool | {"allowed": tool["name"] in allowed} for tool in _tools(hoot, device_id).tools]}


async def _allowed_and_audited(request: Request, who: Caller, name: str, call: ToolCall, target: str) -> None:
    """Refuses a tool the server does not allow (`device_tools`); audits a call to one it does, with its arguments."""
    hoot = request.app.state.hoot
    if name not in hoot.settings.device_tools:
        raise await refuse(request, 403, f"{name!r} is not one of the device tools this server allows (device_tools)", who.name)
    arguments = json.dumps(call.arguments, ensure_ascii=False)
    await hoot.store.audit(who.name, "device tool", target, detail=f"{name} {arguments[:200]}", ip=who.ip)


@router.post("/devices/{device_id}/tools/{name}")
async def call_device_tool(device_id: str, name: str, call: ToolCall, request: Request, who: Caller = Depends(staff)) -> dict:
    """Call one of the device's tools, e.g. set the volume for the class; the device's answer comes back."""
    hoot = request.app.state.hoot
    await device_ids_in_reach(request, who, [device_id])
    tools = _tools(hoot, device_id)
    if name not in tools.names():
        raise HTTPException(404, f"device {device_id!r} has no tool {name!r}")
    await _allowed_and_audited(request, who, name, call, device_id)
    try:
        result = await tools.call(name, call.arguments)
    except (ToolError, ConnectionError) as error:
        raise HTTPException(502, str(error)) from None
    return {"device_id": device_id, "tool": name, "result": result}


@router.post("/classes/{class_id}/tools/{name}")
async def call_class_tool(class_id: int, name: str, call: ToolCall, request: Request, who: Caller = Depends(staff)) -> dict:
    """Call a tool on every device of the class that is online here and has it, e.g. set the class's volume."""
    hoot = request.app.state.hoot
    device_ids = await class_device_ids(request, who, [class_id])
    await _allowed_and_audited(request, who, name, call, f"class {class_id}")

    async def call_one(device_id: str) -> dict:
        tools = hoot.gateway.tools_of(device_id)
        if tools is None or name not in tools.names():
            return {"device_id": device_id, "called": False, "error": "not online here with this tool"}
        try:
            return {"device_id": device_id, "called": True, "result": await tools.call(name, call.arguments)}
        except (ToolError, ConnectionError) as error:
            return {"device_id": device_id, "called": False, "error": str(error)}

    return {"tool": name, "devices": await asyncio.gather(*(call_one(device_id) for device_id in device_ids))}


@router.post("/pair", status_code=201)
async def pair(body: PairRequest, request: Request, who: Caller = Depends(staff)) -> dict:
    """Bind the device that says this code to a class; the device gets its token and can talk at once."""
    hoot = request.app.state.hoot
    classroom = await class_in_reach(request, who, body.class_id)
    key = f"pair:{who.name}"
    wait = hoot.pair_failures.attempt(key)  # counted before any wait, so parallel guesses cannot slip past
    if wait:
        raise await refuse(request, 429, f"too many wrong codes; wait {int(wait) + 1} seconds", who.name)
    ask = PairingAsk(classroom.id, classroom.name, body.name, who.name, who.ip)
    waiting = hoot.pairing.claim(body.code)
    try:
        if waiting is not None:
            paired = await pair_waiting(hoot, waiting, ask)
        else:  # the device may be connected to another server sharing the store
            paired = await hoot.elsewhere.pair(body.code, ask)
    except StoreBusy:
        if waiting is not None and await still_waiting(hoot, waiting):  # the teacher types the same code again
            hoot.pairing.put_back(body.code, waiting)
        raise
    except PairingFailed as failure:
        if waiting is not None:  # the code was right here; a refusal from elsewhere keeps the try counted
            hoot.pair_failures.forgive(key)
        raise await refuse(request, 409, str(failure), who.name) from None
    except OthersAway as away:  # still counted: this server's own codes were tried
        raise HTTPException(503, str(away)) from None
    if paired is None:
        raise await refuse(request, 404, "no device is waiting with that code; check the 6 digits the device says", who.name)
    hoot.pair_failures.forgive(key)  # a right code takes back its own try, not the wrong guesses before it
    return paired


async def still_waiting(hoot, waiting) -> bool:
    """The device of a claimed code still waits for it: not paired, not turned away, its connection (if any) here."""
    live = waiting.session is None or waiting.session in hoot.gateway.sessions_of(waiting.device_id)
    return (live and not hoot.pairing.turned_away(waiting.device_id, waiting.address)
            and await hoot.store.device(waiting.device_id) is None)


@router.get("/pairing")
async def waiting_devices(request: Request, who: Caller = Depends(staff)) -> dict:
    """The unpaired devices waiting with a code now (the codes themselves stay on the devices)."""
    return {"waiting": [waiting.shown() for waiting in request.app.state.hoot.pairing.waiting()]}


@router.delete("/pairing")
async def turn_away(request: Request, device_id: str | None = None, address: str | None = None,
                    who: Caller = Depends(staff)) -> dict:
    """Drop the codes of a device the teacher does not know (by id, by address, or both) and end its connection."""
    if device_id is None and address is None:
        raise HTTPException(422, "name a device_id or an address (or both)")
    if device_id is None and not who.is_admin:  # an address can be a whole school behind one NAT
        raise await refuse(request, 403, "only an admin turns away every device from an address", who.name)
    hoot = request.app.state.hoot
    gone = hoot.pairing.turn_away(device_id, address)
    for waiting in gone:
        if waiting.session is not None and waiting.session in hoot.gateway.sessions_of(waiting.device_id):
            hoot.gateway.end(waiting.device_id, TURNED_AWAY)
    await hoot.store.audit(who.name, "turn away", device_id or "", ok=True,
                           detail=f"{len(gone)} waiting code(s)" + (f" from {address}" if address else ""), ip=who.ip)
    return {"turned_away": [waiting.shown() for waiting in gone]}


@router.patch("/devices/{device_id}")
async def change_device(device_id: str, change: DeviceChange, request: Request, who: Caller = Depends(staff)) -> dict:
    """Rename a device, move it to another of your classes, or (admins) link it to a parent's account."""
    hoot = request.app.state.hoot
    await device_ids_in_reach(request, who, [device_id])
    if await hoot.store.device(device_id) is None:
        raise HTTPException(404, f"device {device_id!r} is not paired")
    fields: dict = {}
    if change.name is not None:
        fields["name"] = change.name
    if change.class_id is not None:
        fields["class_id"] = (await class_in_reach(request, who, change.class_id)).id
    if change.parent is not None:
        if not who.is_admin:
            raise await refuse(request, 403, "only an admin links parents to devices", who.name)
        parent = await hoot.store.account_named(change.parent) if change.parent else None
        if change.parent and (parent is None or parent.role != "parent"):
            raise HTTPException(404, f"no parent account named {change.parent!r}")
        fields["parent_id"] = parent.id if parent else None
    await hoot.store.update_device(device_id, **fields)
    await hoot.store.audit(who.name, "change device", device_id, detail=", ".join(sorted(fields)), ip=who.ip)
    hoot.live.publish("changed", device_id, {"fields": sorted(fields)})  # live streams see who may see it now
    return {"device_id": device_id, **fields}


@router.delete("/devices/{device_id}")
async def forget_device(device_id: str, request: Request, who: Caller = Depends(staff)) -> dict:
    """Forget a paired device: its token stops working and its id may be paired again; its records stay."""
    hoot = request.app.state.hoot
    await device_ids_in_reach(request, who, [device_id])
    if not await hoot.store.forget_device(device_id):
        raise HTTPException(404, f"device {device_id!r} is not paired")
    await hoot.store.audit(who.name, "forget device", device_id, ip=who.ip)
    reason = "this device was forgotten by a teacher: pair it again"
    hoot.classroom.held.pop(device_id, None)
    hoot.gateway.end(device_id, reason)
    hoot.elsewhere.forget(device_id, reason)
    hoot.live.publish("forgotten", device_id, {})
    return {"device_id": device_id, "forgotten": True}


@router.get("/classes")
async def list_classes(request: Request, who: Caller = Depends(caller)) -> dict:
    store = request.app.state.hoot.store
    visible = await visible_class_ids(store, who)
    teachers = {account.id: account.username for account in await store.accounts()}
    shown = []
    for classroom in await store.classes():
        if visible is None or classroom.id in visible:
            devices = [device.id for device in await store.devices(class_ids=[classroom.id])]
            shown.append({"id": classroom.id, "name": classroom.name, "teacher": teachers.get(classroom.teacher_id),
                          "devices": devices})
    return {"classes": shown}


@router.post("/classes", status_code=201)
async def create_class(body: NewClass, request: Request, who: Caller = Depends(staff)) -> dict:
    store = request.app.state.hoot.store
    teacher_id = who.account_id
    if body.teacher is not None:
        if not who.is_admin:
            raise await refuse(request, 403, "only an admin names another teacher", who.name)
        teacher = await store.account_named(body.teacher)
        if teacher is None or teacher.role == "parent":
            raise HTTPException(404, f"no teacher named {body.teacher!r}")
        teacher_id = teacher.id
    classroom = await store.add_class(body.name.strip(), teacher_id)
    await store.audit(who.name, "create class", classroom.name, ip=who.ip)
    return {"id": classroom.id, "name": classroom.name, "teacher": body.teacher or who.name, "devices": []}


@router.get("/accounts")
async def list_accounts(request: Request, who: Caller = Depends(admin)) -> dict:
    accounts = await request.app.state.hoot.store.accounts()
    return {"accounts": [{"id": account.id, "username": account.username, "role": account.role} for account in accounts]}


@router.post("/accounts", status_code=201)
async def create_account(body: NewAccount, request: Request, who: Caller = Depends(admin)) -> JSONResponse:
    problem = weakness(body.password)
    if problem:
        raise HTTPException(422, problem)
    store = request.app.state.hoot.store
    try:
        account = await store.add_account(body.username, await hash_password(body.password), body.role)
    except Conflict:
        raise HTTPException(409, f"the user name {body.username!r} is taken") from None
    await store.audit(who.name, "create account", f"{account.role} {account.username}", ip=who.ip)
    return JSONResponse({"id": account.id, "username": account.username, "role": account.role}, status_code=201)

