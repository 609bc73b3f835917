"""The teacher API under /api: upload, list and assign lessons, see devices and their lesson progress."""

import logging

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hootkit.engines.models import ModelMissing
from hootkit.gateway.auth import teacher_refusal
from hootkit.lessons.classroom import UnknownName
from hootkit.lessons.engine import LessonRun
from hootkit.lessons.loader import MAX_BYTES, LessonError
from hootkit.lessons.model import Lesson

log = logging.getLogger(__name__)


def _teacher(request: Request) -> None:
    reason = teacher_refusal(request, request.app.state.hoot.settings)
    if reason:
        raise HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})


router = APIRouter(prefix="/api", dependencies=[Depends(_teacher)])


class Assignment(BaseModel):
    """Who gets the lesson: device ids, group names, or both."""

    devices: list[str] = Field(default_factory=list, max_length=500)
    groups: list[str] = Field(default_factory=list, max_length=50)


def _summary(lesson: Lesson) -> dict:
    return {"id": lesson.id, "title": lesson.title, "language": lesson.language, "voice": lesson.voice,
            "ages": list(lesson.ages), "minutes": lesson.minutes, "steps": len(lesson.steps)}


def _progress(run: LessonRun | None) -> dict | None:
    if run is None:
        return None
    steps = run.lesson.steps
    return {"lesson": run.lesson.id, "title": run.lesson.title, "step": min(run.index + 1, len(steps)),
            "steps": len(steps), "step_id": steps[min(run.index, len(steps) - 1)].id,
            "finished": run.finished, "quiz": run.results}


def _problems(error: LessonError) -> list[dict]:
    return [{"file": problem.source, "line": problem.line, "reason": problem.reason} for problem in error.problems]


@router.get("/lessons")
async def list_lessons(request: Request) -> dict:
    library = request.app.state.hoot.library
    return {"lessons": [_summary(lesson) for lesson in sorted(library.lessons.values(), key=lambda lesson: lesson.id)],
            "problems": _problems(LessonError(library.problems)) if library.problems else []}


@router.get("/lessons/{lesson_id}")
async def get_lesson(lesson_id: str, request: Request) -> dict:
    lesson = request.app.state.hoot.library.lessons.get(lesson_id)
    if lesson is None:
        raise HTTPException(404, f"no lesson with the id {lesson_id!r}")
    return lesson.model_dump(mode="json")


@router.put("/lessons/{file_name}")
async def upload_lesson(file_name: str, request: Request) -> JSONResponse:
    """The YAML file as the body: `curl -T my-lesson.yaml http://HOST:PORT/api/lessons/my-lesson.yaml`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES:
        raise HTTPException(413, f"a lesson is at most {MAX_BYTES // 1024} KB; this one is {int(declared) // 1024} KB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            raise HTTPException(413, f"a lesson is at most {MAX_BYTES // 1024} KB")
    library = request.app.state.hoot.library
    try:
        existed = file_name.rpartition(".")[0] in library.lessons
        lesson = library.save(file_name, bytes(body))
    except LessonError as error:
        return JSONResponse({"detail": "the lesson was not saved", "problems": _problems(error)}, status_code=422)
    log.info("lesson %s uploaded (%s)", lesson.id, "replaced" if existed else "new")
    return JSONResponse(_summary(lesson), status_code=200 if existed else 201)


@router.post("/lessons/{lesson_id}/assign")
async def assign_lesson(lesson_id: str, assignment: Assignment, request: Request) -> dict:
    """Start the lesson now on the devices that are online; the others start it when they connect."""
    hoot = request.app.state.hoot
    try:
        device_ids = hoot.classroom.devices(assignment.devices, assignment.groups)
        if not device_ids:
            raise HTTPException(422, "name at least one device or group")
        runs = hoot.classroom.assign(lesson_id, device_ids)
    except UnknownName as error:
        raise HTTPException(404, str(error)) from None
    results = []
    for device_id, run in runs.items():
        sessions = hoot.gateway.sessions_of(device_id)
        error = None
        for session in sessions:
            try:
                await session.start_lesson(run)
            except ModelMissing as missing:
                error = str(missing)
        if error:
            hoot.classroom.end(device_id)
        results.append({"device_id": device_id, "online": bool(sessions), "started": bool(sessions) and not error,
                        "error": error})
    return {"lesson": lesson_id, "devices": results}


@router.get("/devices")
async def list_devices(request: Request) -> dict:
    """Connected devices with what they are doing and the safety flags of their session (redacted), and
    offline devices that have a lesson waiting."""
    hoot = request.app.state.hoot
    online = [{"device_id": session.device_id, "session_id": session.session_id, "online": True,
               "activity": session.activity, "lesson": _progress(session.lesson), "flags": list(session.flags)}
              for session in hoot.gateway.sessions.values()]
    seen = {device["device_id"] for device in online}
    offline = [{"device_id": device_id, "online": False, "activity": "offline", "lesson": _progress(run)}
               for device_id, run in hoot.classroom.runs.items() if device_id not in seen]
    return {"devices": online + offline}


@router.delete("/devices/{device_id}/lesson")
async def end_lesson(device_id: str, request: Request) -> dict:
    """End the device's lesson now: it says the closing words and goes back to free talk."""
    hoot = request.app.state.hoot
    run = hoot.classroom.end(device_id)
    for session in hoot.gateway.sessions_of(device_id):
        run = session.end_lesson() or run
    if run is None:
        raise HTTPException(404, f"device {device_id!r} has no lesson")
    return {"device_id": device_id, "ended": _progress(run)}
