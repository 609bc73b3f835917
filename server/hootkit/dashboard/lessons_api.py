"""The lessons API under /api: list, read, upload and assign lessons, and end one on a device."""

import logging

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hootkit.accounts.access import Caller
from hootkit.engines.models import ModelMissing
from hootkit.dashboard.reach import class_device_ids, device_ids_in_reach
from hootkit.dashboard.logins import caller, refuse, staff
from hootkit.lessons.classroom import UnknownName
from hootkit.lessons.loader import MAX_BYTES, LessonError
from hootkit.lessons.model import Lesson
from hootkit.lessons.progress import progress

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api")


class Assignment(BaseModel):
    """Who gets the lesson: device ids, classes, group names from the settings, or any mix."""

    devices: list[str] = Field(default_factory=list, max_length=500)
    classes: list[int] = Field(default_factory=list, max_length=50)
    groups: list[str] = Field(default_factory=list, max_length=50)


def _summary(lesson: Lesson) -> dict:
    return {"id": lesson.id, "title": lesson.title, "language": lesson.language, "voice": lesson.voice,
            "ages": list(lesson.ages), "minutes": lesson.minutes, "steps": len(lesson.steps)}


def _problems(error: LessonError) -> list[dict]:
    return [{"file": problem.source, "line": problem.line, "reason": problem.reason} for problem in error.problems]


@router.get("/lessons")
async def list_lessons(request: Request, who: Caller = Depends(caller)) -> dict:
    library = request.app.state.hoot.library
    return {"lessons": [_summary(lesson) for lesson in sorted(library.lessons.values(), key=lambda lesson: lesson.id)],
            "problems": _problems(LessonError(library.problems)) if library.problems else []}


@router.get("/lessons/{lesson_id}")
async def get_lesson(lesson_id: str, request: Request, who: Caller = Depends(caller)) -> dict:
    lesson = request.app.state.hoot.library.lessons.get(lesson_id)
    if lesson is None:
        raise HTTPException(404, f"no lesson with the id {lesson_id!r}")
    return lesson.model_dump(mode="json")


@router.put("/lessons/{file_name}")
async def upload_lesson(file_name: str, request: Request, who: Caller = Depends(staff)) -> JSONResponse:
    """The YAML file as the body: `curl -T my-lesson.yaml http://HOST:PORT/api/lessons/my-lesson.yaml`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES:
        raise await refuse(request, 413, f"a lesson is at most {MAX_BYTES // 1024} KB; this one is {int(declared) // 1024} KB",
                           who.name)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            raise await refuse(request, 413, f"a lesson is at most {MAX_BYTES // 1024} KB", who.name)
    hoot = request.app.state.hoot
    library = hoot.library
    try:
        existed = file_name.rpartition(".")[0] in library.lessons
        lesson = library.save(file_name, bytes(body))
    except LessonError as error:
        await hoot.store.audit(who.name, "lesson upload", file_name, ok=False, detail=str(error)[:500], ip=who.ip)
        return JSONResponse({"detail": "the lesson was not saved", "problems": _problems(error)}, status_code=422)
    await hoot.store.audit(who.name, "lesson upload", file_name, detail="replaced" if existed else "new", ip=who.ip)
    log.info("lesson %s uploaded (%s)", lesson.id, "replaced" if existed else "new")
    return JSONResponse(_summary(lesson), status_code=200 if existed else 201)


@router.post("/lessons/{lesson_id}/assign")
async def assign_lesson(lesson_id: str, assignment: Assignment, request: Request, who: Caller = Depends(staff)) -> dict:
    """Start the lesson now on the devices that are online; the others start it when they connect."""
    hoot = request.app.state.hoot
    if assignment.groups and not who.is_admin:
        raise await refuse(request, 403, "only an admin may use the groups from the settings; use classes", who.name)
    try:
        named = list(await device_ids_in_reach(request, who, assignment.devices))
        named += await class_device_ids(request, who, assignment.classes)
        device_ids = hoot.classroom.devices(named, assignment.groups)
        if not device_ids:
            raise HTTPException(422, "name at least one device, class or group (with devices in it)")
        runs = hoot.classroom.assign(lesson_id, device_ids)
    except UnknownName as error:
        raise HTTPException(404, str(error)) from None
    lesson = hoot.library.lessons[lesson_id]
    for device_id in runs:
        await hoot.store.add_assignment(device_id, lesson_id, lesson.title, len(lesson.steps), who.name)
    await hoot.store.audit(who.name, "assign", lesson_id, detail=", ".join(runs), ip=who.ip)
    results = []
    for device_id, run in runs.items():
        sessions = hoot.gateway.sessions_of(device_id)
        error = None
        for session in sessions:
            try:
                await session.start_lesson(run)
            except ModelMissing as missing:
                error = str(missing)
            except Exception:  # one device that fails does not stop the lesson on the others
                log.exception("lesson %s could not start on %s", lesson_id, device_id)
                error = "the lesson could not start on this device"
        if error:
            hoot.classroom.end(device_id)
            await hoot.store.end_assignment(device_id)
        else:  # the server holding it starts it (or, for a device offline everywhere, each one when it connects)
            hoot.elsewhere.assign(device_id, lesson_id)
        held_elsewhere = not sessions and device_id in hoot.elsewhere.online  # that server starts it
        results.append({"device_id": device_id, "online": bool(sessions) or held_elsewhere,
                        "started": (bool(sessions) and not error) or held_elsewhere, "error": error})
    return {"lesson": lesson_id, "devices": results}
