"""The knowledge API under /api: what the companion knows, and teachers' own fact files."""

import asyncio
import logging
import os

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from hootkit.accounts.access import Caller
from hootkit.dashboard.logins import caller, refuse, staff
from hootkit.knowledge.facts import MAX_BYTES, KnowledgeError, check_file_name, load_folders, read_facts

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api")


def _problems(error: KnowledgeError) -> list[dict]:
    return [{"file": problem.source, "line": problem.line, "reason": problem.reason} for problem in error.problems]


def _knowledge(request: Request):
    knowledge = request.app.state.hoot.engines.knowledge
    if knowledge is None:
        raise HTTPException(503, "this server runs without a knowledge base")
    return knowledge


@router.get("/knowledge")
async def list_knowledge(request: Request, who: Caller = Depends(caller)) -> dict:
    """How many facts each folder and lesson gives, and the problems of broken files (file, line, reason)."""
    knowledge = _knowledge(request)
    folders = request.app.state.hoot.settings.knowledge_dirs
    _facts, problems = await asyncio.to_thread(load_folders, *folders)
    return {"facts": len(knowledge), "groups": knowledge.groups(),
            "problems": _problems(KnowledgeError(problems)) if problems else []}


@router.put("/knowledge/{file_name}")
async def upload_knowledge(file_name: str, request: Request, who: Caller = Depends(staff)) -> JSONResponse:
    """A teacher's fact file as the body (`curl -T our-class.yaml .../api/knowledge/our-class.yaml`); checked first."""
    knowledge = _knowledge(request)
    hoot = request.app.state.hoot
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            raise await refuse(request, 413, f"a knowledge file is at most {MAX_BYTES // 1024} KB", who.name)
    try:
        check_file_name(file_name)
        facts = read_facts(bytes(body), file_name)
    except KnowledgeError as error:
        await hoot.store.audit(who.name, "knowledge upload", file_name, ok=False, detail=str(error)[:500], ip=who.ip)
        return JSONResponse({"detail": "the facts were not saved", "problems": _problems(error)}, status_code=422)
    folder = hoot.settings.knowledge_dirs[-1]
    target = folder / file_name
    existed = target.exists()

    def write_and_index() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{file_name}.part"
        partial.write_bytes(bytes(body))
        os.replace(partial, target)
        knowledge.set_group(str(folder), load_folders(folder)[0])

    await asyncio.to_thread(write_and_index)
    await hoot.store.audit(who.name, "knowledge upload", file_name, detail=f"{len(facts)} facts", ip=who.ip)
    log.info("knowledge file %s uploaded: %d facts", file_name, len(facts))
    return JSONResponse({"file": file_name, "facts": len(facts)}, status_code=200 if existed else 201)
