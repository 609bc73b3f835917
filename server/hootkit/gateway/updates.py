"""App updates for devices: the published firmware's signed manifest and its files, for devices the server admits.

The manifest is served as the exact bytes its signature covers; devices check the signature themselves."""

import json
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response

from hootkit.firmware.signing import SIGNATURE_FILE
from hootkit.gateway.auth import admit_device

router = APIRouter(prefix="/v1/firmware")


async def _published(request: Request) -> tuple[Path, bytes, dict]:
    hoot = request.app.state.hoot
    settings = hoot.settings
    admission = await admit_device(request, settings, hoot.store)
    if admission.refusal or admission.needs_pairing:
        raise HTTPException(status_code=401, detail=admission.refusal or "unauthorized: a teacher must pair this device first")
    folder = settings.firmware_dir
    if folder is None or not (folder / "manifest.json").is_file():
        raise HTTPException(status_code=404, detail="no firmware is published on this server (set firmware_dir)")
    raw = (folder / "manifest.json").read_bytes()
    try:
        return folder, raw, json.loads(raw)
    except ValueError as error:
        raise HTTPException(status_code=500, detail=f"the published manifest.json is broken: {error}") from error


@router.get("/manifest")
async def manifest(request: Request) -> Response:
    _, raw, _ = await _published(request)
    return Response(raw, media_type="application/json")


@router.get("/manifest.sig")
async def manifest_signature(request: Request) -> PlainTextResponse:
    folder, _, _ = await _published(request)
    if not (folder / SIGNATURE_FILE).is_file():
        raise HTTPException(status_code=404, detail="the published firmware is not signed: publish a `hoot firmware build` folder")
    return PlainTextResponse((folder / SIGNATURE_FILE).read_text())


@router.get("/files/{path:path}")
async def firmware_file(path: str, request: Request) -> FileResponse:
    folder, _, published = await _published(request)
    if path not in {entry["path"] for entry in published.get("files", [])}:
        raise HTTPException(status_code=404, detail=f"{path} is not part of the published firmware")
    return FileResponse(folder / path, media_type="application/octet-stream")
