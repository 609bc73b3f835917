"""The knowledge API under /api: what the companion knows, and teachers' own fact files."""

import asyncio
import logging
import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from hootkit.accounts.access import Caller
from hootkit.dashboard.logins import refuse, staff
from hootkit.knowledge.facts import MAX_BYTES, Fact, KnowledgeError, check_file_name, load_folders, read_facts
from hootkit.lessons.loader import Problem
from hootkit.safety import guard

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api")


def _problems(error: KnowledgeError) -> list[dict]:
    return [{"file": Path(problem.source).name, "line": problem.line, "reason": problem.reason} for problem in error.problems]


def _knowledge(request: Request):
    knowledge = request.app.state.hoot.engines.knowledge
    if knowledge is None:
        raise HTTPException(503, "this server runs without a knowledge base")
    return knowledge


def upload_folder(settings) -> Path:
    """Where teachers' fact files go: beside the store, never into the shipped curriculum."""
    return settings.data_dir / "knowledge"


def _checked(data: bytes, file_name: str) -> list[Fact]:
    """The upload's facts; refuses a fact the output guard would not let the companion say."""
    check_file_name(file_name)
    facts = read_facts(data, file_name)
    unsafe = [Problem(file_name, int(fact.origin.rpartition(":")[2]), f"the companion may not say this ({verdict.category})")
              for fact in facts if not (verdict := guard.check_output(fact.fact)).allowed]
    if unsafe:
        raise KnowledgeError(unsafe)
    return facts


@router.get("/knowledge")
async def list_knowledge(request: Request, who: Caller = Depends(staff)) -> dict:
    """How many facts the shipped files, the uploads and the lessons give, and the problems of broken files."""
    hoot = request.app.state.hoot
    knowledge = _knowledge(request)
    folders = [*hoot.settings.knowledge_dirs, upload_folder(hoot.settings)]
    _facts, problems = await asyncio.to_thread(load_folders, *folders)
    return {"facts": len(knowledge), "groups": {Path(group).name: count for group, count in knowledge.groups().items()},
            "problems": _problems(KnowledgeError(problems)) if problems else []}


@router.put("/knowledge/{file_name}")
async def upload_knowledge(file_name: str, request: Request, who: Caller = Depends(staff)) -> JSONResponse:
    """A teacher's fact file as the body (`curl -T our-class.yaml .../api/knowledge/our-class.yaml`); checked first."""
    knowledge = _knowledge(request)
    hoot = request.app.state.hoot
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES:
        raise await refuse(request, 413, f"a knowledge file is at most {MAX_BYTES // 1024} KB", who.name)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            raise await refuse(request, 413, f"a knowledge file is at most {MAX_BYTES // 1024} KB", who.name)
    try:
        facts = await asyncio.to_thread(_checked, bytes(body), file_name)
    except KnowledgeError as error:
        await hoot.store.audit(who.name, "knowledge upload", file_name, ok=False, detail=str(error)[:500], ip=who.ip)
        return JSONResponse({"detail": "the facts were not saved", "problems": _problems(error)}, status_code=422)
    folder = upload_folder(hoot.settings)
    target = folder / file_name
    existed = target.exists()

    def write_and_index() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(bytes(body))
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)
        knowledge.set_group(str(folder), load_folders(folder)[0])

    try:
        await asyncio.to_thread(write_and_index)
    except OSError as error:
        await hoot.store.audit(who.name, "knowledge upload", file_name, ok=False, detail=str(error)[:500], ip=who.ip)
        raise HTTPException(500, f"the file could not be saved: {error.strerror or error}") from None
    await hoot.store.audit(who.name, "knowledge upload", file_name, detail=f"{len(facts)} facts", ip=who.ip)
    log.info("knowledge file %s uploaded: %d facts", file_name, len(facts))
    return JSONResponse({"file": file_name, "facts": len(facts)}, status_code=200 if existed else 201)
