"""App updates for devices: the published firmware's manifest and files, for devices the server admits."""

import json
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from hootkit.gateway.auth import admit_device

router = APIRouter(prefix="/v1/firmware")


async def _published(request: Request) -> tuple[Path, dict]:
    hoot = request.app.state.hoot
    settings = hoot.settings
    admission = await admit_device(request, settings, hoot.store)
    if admission.refusal or admission.needs_pairing:
        raise HTTPException(status_code=401, detail=admission.refusal or "unauthorized: a teacher must pair this device first")
    folder = settings.firmware_dir
    if folder is None or not (folder / "manifest.json").is_file():
        raise HTTPException(status_code=404, detail="no firmware is published on this server (set firmware_dir)")
    try:
        return folder, json.loads((folder / "manifest.json").read_text())
    except ValueError as error:
        raise HTTPException(status_code=500, detail=f"the published manifest.json is broken: {error}") from error


@router.get("/manifest")
async def manifest(request: Request) -> JSONResponse:
    _, published = await _published(request)
    return JSONResponse(published)


@router.get("/files/{path:path}")
async def firmware_file(path: str, request: Request) -> FileResponse:
    folder, published = await _published(request)
    if path not in {entry["path"] for entry in published.get("files", [])}:
        raise HTTPException(status_code=404, detail=f"{path} is not part of the published firmware")
    return FileResponse(folder / path, media_type="application/octet-stream")
