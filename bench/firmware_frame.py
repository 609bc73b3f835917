"""Per-frame CPU cost of the firmware loop on the MicroPython unix port (1 MB heap).

Runs bench/mpy/frame_cost.py under `micropython` with the compiled firmware (built for the host), which
times each stage of one 40 ms audio frame: the microphone conversion, the uplink (protocol + websocket
masking), the downlink (websocket + protocol + jitter buffer + volume) and a text event, and counts the
bytes allocated per frame (garbage the ESP32 must collect). Repeats the whole measurement --repeats
times and reports medians. Prints a table and writes bench/results/firmware_frame.json.

The unix port on a laptop CPU is far faster than an ESP32-S3 at 240 MHz; the share of the 40 ms frame
is an indication, the allocations carry over as they are.
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from hootkit.emulator.device import FAKES, micropython_binary
from hootkit.firmware.build import build_firmware

ROOT = Path(__file__).resolve().parents[1]


def run_once(app: Path, frames: int, heap: str, workdir: Path) -> dict:
    env = dict(os.environ, MICROPYPATH=f"{FAKES}:{app}:.frozen", HOOT_EMU_SPEAKER=str(workdir / "speaker.pcm"))
    done = subprocess.run([micropython_binary(), "-X", f"heapsize={heap}", str(ROOT / "bench" / "mpy" / "frame_cost.py"), str(frames)],
                          env=env, cwd=workdir, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--heap", default="1M")
    parser.add_argument("--out", type=Path, default=Path("bench/results/firmware_frame.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        app = build_firmware("diy-s3", work / "app", arch="host").out
        runs = [run_once(app, args.frames, args.heap, work) for _ in range(args.repeats)]
    stages = [row["stage"] for row in runs[0]["rows"]]
    table = []
    for index, stage in enumerate(stages):
        micros = [run["rows"][index]["us_per_frame"] for run in runs]
        table.append({"stage": stage, "us_per_frame_p50": round(statistics.median(micros), 1),
                      "us_per_frame_min": min(micros), "us_per_frame_max": max(micros),
                      "bytes_per_frame": runs[-1]["rows"][index]["bytes_per_frame"],
                      "share_of_40ms_frame_pct": round(statistics.median(micros) / 400, 2)})
    print(f"firmware audio path on the MicroPython unix port, {args.frames} frames x {args.repeats} repeats, heap {args.heap}")
    print(f"{'stage':<50} {'us/frame p50':>12} {'min':>8} {'max':>8} {'bytes/frame':>12} {'% of 40 ms':>10}")
    for row in table:
        print(f"{row['stage']:<50} {row['us_per_frame_p50']:>12} {row['us_per_frame_min']:>8} {row['us_per_frame_max']:>8}"
              f" {row['bytes_per_frame']:>12} {row['share_of_40ms_frame_pct']:>10}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"table": table, "runs": runs, "cpu_count": os.cpu_count()}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
