"""Boot guard: finishes or rolls back app updates, and rolls back a new app that fails to start twice.

This module and main.py are never replaced over the air, so a bad update cannot break the way back.
"""

import json
import os
import time

import machine

from hoot import log

STATE = "update.json"
MAX_FAILED_STARTS = 2
CRASH_PAUSE_S = 2
PROTECTED = ("main.py", "hoot/guard.mpy", "hoot/guard.py", "config.json", STATE)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def read_state():
    """The update journal: {"pending", "previous", "tries", "files"} during an update, {"rejected"} after a rollback."""
    try:
        with open(STATE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_state(state):
    with open(STATE + ".tmp", "w") as f:
        json.dump(state, f)
    os.rename(STATE + ".tmp", STATE)


def clear_state():
    if exists(STATE):
        os.remove(STATE)


def stage(version, previous, paths):
    """Swap in downloaded `<path>.new` files, keeping `<path>.old`; returns once the new app is in place."""
    write_state({"pending": version, "previous": previous, "tries": 0, "files": paths})
    finish_swap(paths)


def finish_swap(paths):
    """Idempotent: completes a swap that a power cut may have interrupted."""
    for path in paths:
        if exists(path + ".new"):
            if exists(path) and not exists(path + ".old"):
                os.rename(path, path + ".old")
            elif exists(path):
                os.remove(path)
            os.rename(path + ".new", path)


def rollback(state):
    """Put the previous files back and forget the update."""
    for path in state["files"]:
        if exists(path + ".new"):
            os.remove(path + ".new")
        if exists(path + ".old"):
            if exists(path):
                os.remove(path)
            os.rename(path + ".old", path)
        elif exists(path):
            os.remove(path)
    write_state({"rejected": state.get("pending")})
    log.event("update_rolled_back", {"version": state.get("pending"), "back_to": state.get("previous")})


def confirm():
    """The new app reached the server: keep it, drop the old files."""
    state = read_state()
    if not state or "pending" not in state:
        return
    for path in state["files"]:
        if exists(path + ".old"):
            os.remove(path + ".old")
    clear_state()
    log.event("update_confirmed", {"version": state.get("pending")})


def start():
    """Run the app, counting starts of a pending update; roll back after MAX_FAILED_STARTS failures."""
    state = read_state()
    if state and "pending" in state:
        finish_swap(state["files"])
        if state["tries"] >= MAX_FAILED_STARTS:
            rollback(state)
            machine.reset()
        state["tries"] += 1
        write_state(state)
        log.event("update_trying", {"version": state["pending"], "try": state["tries"]})
    try:
        from hoot import app

        app.main()
    except Exception as error:
        log.event("crash", {"error": repr(error)})
        time.sleep(CRASH_PAUSE_S)
        machine.reset()
