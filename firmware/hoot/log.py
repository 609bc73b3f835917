"""The device's serial log: one `@hoot {json}` line per event, for people and for the emulator alike."""

import json
import time


def event(kind, fields=None):
    """Print one event; `fields` is a dict of JSON-ready values."""
    record = {"ev": kind, "t": time.ticks_ms()}
    if fields:
        record.update(fields)
    print("@hoot " + json.dumps(record))
