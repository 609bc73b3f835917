"""The records API under /api: transcripts, reports, export and deletion, retention, the audit log, live news."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from hootkit.accounts.access import Caller, visible_device_ids
from hootkit.dashboard.reach import class_device_ids, device_ids_in_reach
from hootkit.dashboard.logins import admin, caller, staff
from hootkit.store.db import transcript_entry
from hootkit.store.export import to_csv
from hootkit.store.low_priority import LowPriority

router = APIRouter(prefix="/api")
KEEPALIVE_S = 15.0  # an idle live stream says so this often; each time it checks its login is still good
REPORT_PAGE = 50  # devices' reports encoded per step of a report's answer: the loop paces devices' audio in between
RECHECK_S = 2.0  # and news checks the login and the caller's devices again at most this often
MEMBERSHIP = ("paired", "changed", "forgotten")  # news that may change who sees a device: checked at once
_QUIET = object()  # no news for KEEPALIVE_S


class Retention(BaseModel):
    days: float = Field(gt=0, le=3650, description="turns, sessions and audit entries older than this are deleted")
    keep_audio: bool = False


@router.get("/devices/{device_id}/transcript")
async def transcript(device_id: str, request: Request, who: Caller = Depends(caller),
                     limit: int = 200) -> dict:
    await device_ids_in_reach(request, who, [device_id])
    turns = await request.app.state.hoot.store.turns([device_id], limit=max(1, min(limit, 1000)))
    return {"turns": [transcript_entry(turn) for turn in turns]}


@router.get("/devices/{device_id}/report")
async def device_report(device_id: str, request: Request, who: Caller = Depends(caller)) -> StreamingResponse:
    await device_ids_in_reach(request, who, [device_id])
    return reports_response(await request.app.state.hoot.store.report([device_id]))


@router.get("/classes/{class_id}/report")
async def class_report(class_id: int, request: Request, who: Caller = Depends(caller)) -> StreamingResponse:
    device_ids = await class_device_ids(request, who, [class_id])
    return reports_response(await request.app.state.hoot.store.report(device_ids))


def reports_response(reports: list[dict]) -> StreamingResponse:
    """`{"reports": [...]}`, sent as it is encoded, REPORT_PAGE devices a step.

    A school's report is megabytes of JSON: FastAPI's own encoding of a returned dict would hold the event loop
    for all of it in one step (hundreds of milliseconds), and every device's audio with it.
    """
    return StreamingResponse(reports_json(reports), media_type="application/json")


async def reports_json(reports: list[dict]) -> AsyncIterator[bytes]:
    """The report answer's bytes, a page of devices at a time, at low priority (other tasks run between pages)."""
    pace = LowPriority()
    yield b'{"reports":['
    for start in range(0, len(reports), REPORT_PAGE):
        page = json.dumps(reports[start:start + REPORT_PAGE], ensure_ascii=False, allow_nan=False)[1:-1]
        yield (("," if start else "") + page).encode()
        await pace.step()
    yield b"]}"


@router.get("/devices/{device_id}/export")
async def export_device(device_id: str, request: Request, format: Literal["csv", "json"] = "csv",
                        who: Caller = Depends(caller)) -> Response:
    await device_ids_in_reach(request, who, [device_id])
    return await _export(request, who, [device_id], format, device_id)


@router.get("/classes/{class_id}/export")
async def export_class(class_id: int, request: Request, format: Literal["csv", "json"] = "csv",
                       who: Caller = Depends(caller)) -> Response:
    device_ids = await class_device_ids(request, who, [class_id])
    return await _export(request, who, device_ids, format, f"class-{class_id}")


async def _export(request: Request, who: Caller, device_ids: list[str], format: str, name: str) -> Response:
    store = request.app.state.hoot.store
    rows = await store.export_rows(device_ids)  # read a page at a time: the loop keeps pacing devices' audio
    await store.audit(who.name, "export", name, detail=f"{len(rows)} turns as {format}", ip=who.ip)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)
    headers = {"Content-Disposition": f'attachment; filename="hootkit-{safe}.{format}"'}
    body = await asyncio.to_thread(_export_body, rows, format)  # a school's export is seconds of Python: off the loop
    media_type = "application/json" if format == "json" else "text/csv; charset=utf-8"
    return Response(body, media_type=media_type, headers=headers)


def _export_body(rows: list[dict], format: str) -> bytes:
    """The export file's bytes (runs on a worker thread)."""
    if format == "json":
        return json.dumps({"turns": rows}, ensure_ascii=False, indent=1).encode()
    return to_csv(rows).encode()


@router.delete("/devices/{device_id}/data")
async def delete_device_data(device_id: str, request: Request, who: Caller = Depends(staff)) -> dict:
    await device_ids_in_reach(request, who, [device_id])
    return await _delete(request, who, [device_id], device_id)


@router.delete("/classes/{class_id}/data")
async def delete_class_data(class_id: int, request: Request, who: Caller = Depends(staff)) -> dict:
    device_ids = await class_device_ids(request, who, [class_id])
    return await _delete(request, who, device_ids, f"class {class_id}")


async def _delete(request: Request, who: Caller, device_ids: list[str], target: str) -> dict:
    store = request.app.state.hoot.store
    deleted = await store.delete_data(device_ids)
    await store.audit(who.name, "delete data", target, detail=json.dumps(deleted), ip=who.ip)
    return {"deleted": deleted}


@router.get("/retention")
async def get_retention(request: Request, who: Caller = Depends(caller)) -> dict:
    return await retention(request.app.state.hoot)


@router.put("/retention")
async def put_retention(body: Retention, request: Request, who: Caller = Depends(admin)) -> dict:
    hoot = request.app.state.hoot
    await hoot.store.set_setting("retention", body.model_dump())
    hoot.recorder.keep_audio = body.keep_audio
    await hoot.store.audit(who.name, "retention", detail=json.dumps(body.model_dump()), ip=who.ip)
    return body.model_dump()


async def retention(hoot) -> dict:
    """The retention the admin set, else the settings' default; audio is never kept unless asked for."""
    default = {"days": hoot.settings.retention_days, "keep_audio": False}
    return {**default, **(await hoot.store.get_setting("retention", {}))}


@router.get("/audit")
async def audit_log(request: Request, who: Caller = Depends(admin), limit: int = 200) -> dict:
    events = await request.app.state.hoot.store.audit_log(limit=max(1, min(limit, 1000)))
    return {"events": [{"at": event.at.isoformat(), "actor": event.actor, "action": event.action, "target": event.target,
                        "ok": event.ok, "detail": event.detail, "ip": event.ip} for event in events]}


@router.get("/live")
async def live(request: Request, who: Caller = Depends(caller)) -> StreamingResponse:
    """Server-sent events: `device`, `turn` and `lesson` news about the caller's devices, as they happen (and
    `paired`, `changed`, `forgotten`). A login that is gone (logged out, password changed, account removed) gets
    `reload` and the stream ends; devices taken from the caller stop being news for them within RECHECK_S."""
    hoot = request.app.state.hoot

    async def stream() -> AsyncIterator[str]:
        with hoot.live.subscribe() as subscription:
            visible = await visible_device_ids(hoot.store, who)
            checked = time.monotonic()
            yield ": connected\n\n"
            while True:
                try:
                    news = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    news = _QUIET
                if news is None:
                    return  # the server is stopping
                if subscription.overflowed:
                    yield "event: reload\ndata: {}\n\n"
                    return
                before = visible
                if news is _QUIET or news.kind in MEMBERSHIP or time.monotonic() - checked >= RECHECK_S:
                    now_who = await _still_logged_in(request)
                    if now_who is None:
                        yield "event: reload\ndata: {}\n\n"
                        return
                    visible, checked = await visible_device_ids(hoot.store, now_who), time.monotonic()
                if news is _QUIET:
                    yield ": keepalive\n\n"
                elif _sees(visible, news.device_id) or (news.kind in MEMBERSHIP and _sees(before, news.device_id)):
                    yield f"event: {news.kind}\ndata: {json.dumps(news.data, ensure_ascii=False)}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _sees(visible: set[str] | None, device_id: str) -> bool:
    return visible is None or device_id in visible


async def _still_logged_in(request: Request) -> Caller | None:
    """The caller as their login stands now (its role included), or None once it is gone."""
    try:
        return await caller(request)
    except HTTPException:
        return None
