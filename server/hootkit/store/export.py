"""Exported turns as CSV text: one row per turn, lists and dicts as JSON."""

import csv
import io
import json

COLUMNS = ("device_id", "session_id", "number", "started_at", "ended_at", "outcome", "error", "transcript", "reply", "flags",
           "lesson_id", "step_id", "heard_s", "reply_s", "latency")


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value
                         for key, value in row.items()})
    return out.getvalue()
