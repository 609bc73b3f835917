"""App updates over the air: check the manifest's signature, compare it with ours, fetch changed files, verify, stage."""

import binascii
import hashlib
import json
import os
import time

from hoot import ed25519, guard, http, log

MANIFEST = "manifest.json"
UPDATE_KEY = "update-key.txt"
SIGNED_PREFIX = b"hootkit-manifest-v1\n"


class Untrusted(Exception):
    """The server's manifest is not signed by this device's update key, or is older than ours."""


def update_key():
    try:
        with open(UPDATE_KEY) as f:
            return binascii.unhexlify(f.read().strip())
    except (OSError, ValueError):
        return None


def trusted_manifest(raw, signature_hex, local):
    """The manifest in `raw` once its signature and age are checked; raises Untrusted otherwise."""
    key = update_key()
    if key is None:
        raise Untrusted("this device has no update key (%s): flash it again with `hoot flash`" % UPDATE_KEY)
    try:
        signature = binascii.unhexlify(signature_hex.strip())
    except ValueError:
        raise Untrusted("the manifest signature is not hex")
    if not ed25519.verify(key, SIGNED_PREFIX + raw, signature):
        raise Untrusted("the manifest is not signed by this device's update key")
    remote = json.loads(raw)
    if not isinstance(remote, dict) or not isinstance(remote.get("files"), list):
        raise Untrusted("the signed manifest has no file list")
    for field in ("board", "arch"):
        if local.get(field) is not None and remote.get(field) != local.get(field):
            raise Untrusted("the manifest is for %s %s, this device is %s" % (field, remote.get(field), local.get(field)))
    if remote.get("built", 0) < local.get("built", 0):
        raise Untrusted("the manifest is older than the installed app (built %s < %s)" % (remote.get("built"), local.get("built")))
    return remote


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
    local = local_manifest()
    try:
        raw = await http.get(base + "/v1/firmware/manifest", token)
        offered = json.loads(raw)
    except http.HttpError as error:
        log.event("update_none" if error.status == 404 else "update_check_failed", {"error": str(error)})
        return False
    except ValueError:
        log.event("update_check_failed", {"error": "the manifest is not JSON"})
        return False
    version = offered.get("version") if isinstance(offered, dict) else None
    if version == local.get("version"):  # nothing to install, so nothing to verify
        log.event("update_current", {"version": version})
        return False
    rejected = journal.get("rejected")
    if rejected is not None and version == rejected:
        log.event("update_skipped", {"version": rejected, "why": "it failed to start before"})
        return False
    try:
        signature = await http.get(base + "/v1/firmware/manifest.sig", token)
        started = time.ticks_ms()
        remote = trusted_manifest(raw, signature.decode(), local)
    except (http.HttpError, Untrusted, ValueError) as error:
        log.event("update_refused", {"error": str(error)})
        return False
    log.event("update_verified", {"version": remote.get("version"), "ms": time.ticks_diff(time.ticks_ms(), started)})
    wanted = _changed(remote, local)
    log.event("update_found", {"version": remote.get("version"), "files": len(wanted)})
    try:
        for entry in wanted:
            await _download(base, token, entry)
        with open(MANIFEST + ".new", "wb") as f:
            f.write(raw)
    except (http.HttpError, OSError) as error:
        _discard(wanted)
        log.event("update_refused", {"error": str(error)})
        return False
    paths = [entry["path"] for entry in wanted] + [MANIFEST]
    guard.stage(remote.get("version"), local.get("version"), paths)
    log.event("update_staged", {"version": remote.get("version")})
    return True
