"""App updates over the air: compare the server's manifest with ours, fetch changed files, verify, stage."""

import binascii
import hashlib
import json
import os

from hoot import guard, http, log

MANIFEST = "manifest.json"


def local_manifest():
    try:
        with open(MANIFEST) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"version": None, "files": []}


def _ensure_dirs(path):
    parts = path.split("/")[:-1]
    for i in range(len(parts)):
        folder = "/".join(parts[: i + 1])
        if not guard.exists(folder):
            os.mkdir(folder)


def _changed(remote, local):
    installed = {}
    for entry in local.get("files", []):
        installed[entry["path"]] = entry["sha256"]
    wanted = []
    for entry in remote["files"]:
        path = entry["path"]
        if path in guard.PROTECTED or ".." in path.split("/") or path.startswith("/"):
            continue
        if installed.get(path) != entry["sha256"]:
            wanted.append(entry)
    return wanted


async def _download(base, token, entry):
    path = entry["path"]
    _ensure_dirs(path)
    digest = hashlib.sha256()
    with open(path + ".new", "wb") as f:

        def sink(chunk):
            digest.update(chunk)
            f.write(chunk)

        await http.get(base + "/v1/firmware/files/" + path, token, sink)
    got = binascii.hexlify(digest.digest()).decode()
    if got != entry["sha256"]:
        raise http.HttpError("%s: sha256 %s, the manifest says %s" % (path, got, entry["sha256"]))


def _discard(entries):
    for entry in entries:
        if guard.exists(entry["path"] + ".new"):
            os.remove(entry["path"] + ".new")


async def check(base, token):
    """True when a verified update was staged (the caller restarts); False when there is none or it failed."""
    journal = guard.read_state() or {}
    if "pending" in journal:
        log.event("update_waiting", {"version": journal["pending"], "why": "the last update is not confirmed yet"})
        return False
    try:
        remote = json.loads(await http.get(base + "/v1/firmware/manifest", token))
    except (http.HttpError, ValueError) as error:
        status = getattr(error, "status", None)
        log.event("update_none" if status == 404 else "update_check_failed", {"error": str(error)})
        return False
    local = local_manifest()
    if remote.get("version") == local.get("version"):
        log.event("update_current", {"version": local.get("version")})
        return False
    rejected = journal.get("rejected")
    if rejected is not None and remote.get("version") == rejected:
        log.event("update_skipped", {"version": rejected, "why": "it failed to start before"})
        return False
    wanted = _changed(remote, local)
    log.event("update_found", {"version": remote.get("version"), "files": len(wanted)})
    try:
        for entry in wanted:
            await _download(base, token, entry)
        with open(MANIFEST + ".new", "w") as f:
            json.dump(remote, f)
    except (http.HttpError, OSError) as error:
        _discard(wanted)
        log.event("update_refused", {"error": str(error)})
        return False
    paths = [entry["path"] for entry in wanted] + [MANIFEST]
    guard.stage(remote.get("version"), local.get("version"), paths)
    log.event("update_staged", {"version": remote.get("version")})
    return True
