"""The guard examples API under /api: teachers' own labelled examples, which override the trained guard head."""

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from hootkit.accounts.access import Caller
from hootkit.dashboard.logins import refuse, staff
from hootkit.safety.examples import MAX_TEXT, ExampleError, TeacherExamples
from hootkit.safety.head import BENIGN

router = APIRouter(prefix="/api")


class NewExample(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    label: str = Field(min_length=1, max_length=40)


def _examples(request: Request) -> TeacherExamples:
    for guard in request.app.state.hoot.engines.guards:
        if isinstance(getattr(guard, "examples", None), TeacherExamples):
            return guard.examples
    raise HTTPException(503, "this server runs without the semantic guard, so it keeps no examples")


async def _may_change(request: Request, existing, who: Caller) -> None:
    """An example is changed or removed only by whoever added it, or by an admin."""
    if existing is not None and existing.added_by != who.name and who.role != "admin":
        raise await refuse(request, 403, f"only {existing.added_by} or an admin may change this example", who.name)


@router.get("/guard/examples")
async def list_examples(request: Request, who: Caller = Depends(staff)) -> dict:
    """The examples, newest last, and the labels an example may have."""
    examples = _examples(request)
    return {"examples": [vars(example) for example in examples.examples], "labels": sorted(examples.labels)}


@router.post("/guard/examples", status_code=201)
async def add_example(new: NewExample, request: Request, who: Caller = Depends(staff)) -> dict:
    """Teach the guard one text: a category blocks texts like it in every class; "benign" lets texts like it
    past the head (never past the word lists), so only an admin may add that."""
    examples = _examples(request)
    hoot = request.app.state.hoot
    if new.label == BENIGN and who.role != "admin":
        raise await refuse(request, 403, "only an admin may mark a text as harmless for every class", who.name)
    await _may_change(request, examples.find(new.text), who)
    try:
        example = await asyncio.to_thread(examples.add, new.text, new.label, who.name)
    except ExampleError as error:
        raise HTTPException(422, str(error)) from None
    await hoot.store.audit(who.name, "guard example", example.label, detail=example.text[:200], ip=who.ip)
    return vars(example)


@router.delete("/guard/examples")
async def remove_example(text: str, request: Request, who: Caller = Depends(staff)) -> dict:
    """Forget the example with this text (`?text=`)."""
    examples = _examples(request)
    hoot = request.app.state.hoot
    await _may_change(request, examples.find(text), who)
    if not await asyncio.to_thread(examples.remove, text):
        raise HTTPException(404, "no example has that text")
    await hoot.store.audit(who.name, "guard example removed", "", detail=text[:200], ip=who.ip)
    return {"removed": text}
