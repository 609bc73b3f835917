"""VTV through the emulated firmware against the same server as a direct websocket client, in one run.

Starts `hoot serve` (embedded models) unless --server is given. For each spoken question it asks twice,
alternating: once with `DeviceClient` (what bench/vtv.py and `hoot talk` measure: last voiced sample
sent -> first reply frame received) and once through the real firmware on the MicroPython unix port
(1 MB heap, real-time I2S fakes): last voiced sample heard by the microphone -> first reply frame
received by the firmware, plus the device's own playout delay (jitter-buffer pre-roll). The ratio of
the two medians is the cost of the firmware path. Prints a table and writes bench/results/emulator_vtv.json.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from vtv import QUESTIONS, free_port, percentile, start_server  # noqa: E402

from hootkit.client.device import DeviceClient  # noqa: E402
from hootkit.client.speech import speak  # noqa: E402
from hootkit.emulator.session import Session  # noqa: E402


async def measure(url: str, audio: dict[str, np.ndarray], runs: int) -> list[dict]:
    rows = []
    async with Session(url) as session:
        for run in range(runs):
            for question, samples in audio.items():
                async with DeviceClient(url) as client:
                    direct = (await client.ask(samples)).to_json()
                session._turn_mark = session.device.mark()
                await session.device.say(samples)
                await session.wait("reply")
                emulated = session.turns[-1].to_json()
                rows.append({"run": run, "question": question, "direct": direct, "emulated": emulated})
                print(f"  direct {direct['vtv_ms']!s:>7} ms   emulated {emulated['vtv_ms']!s:>7} ms"
                      f" (+{emulated['parts'].get('device_playout')} ms playout)  heard {emulated['transcript']!r}", flush=True)
    return rows


def summarise(rows: list[dict]) -> dict:
    direct = [row["direct"]["vtv_ms"] for row in rows if row["direct"]["vtv_ms"] is not None]
    emulated = [row["emulated"]["vtv_ms"] for row in rows if row["emulated"]["vtv_ms"] is not None]
    playout = [row["emulated"]["parts"]["device_playout"] for row in rows if "device_playout" in row["emulated"]["parts"]]
    server = [row["emulated"]["parts"]["server_vtv"] for row in rows if "server_vtv" in row["emulated"]["parts"]]
    return {
        "turns": len(rows),
        "direct_vtv_p50": percentile(direct, 50), "direct_vtv_p95": percentile(direct, 95),
        "emulated_vtv_p50": percentile(emulated, 50), "emulated_vtv_p95": percentile(emulated, 95),
        "emulated_over_direct_p50": round(statistics.median(emulated) / statistics.median(direct), 2) if direct and emulated else None,
        "server_vtv_p50": percentile(server, 50),
        "device_playout_p50": percentile(playout, 50),
        "same_transcript": sum(row["direct"]["transcript"] == row["emulated"]["transcript"] for row in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server", help="use this running server instead of starting one")
    parser.add_argument("--out", type=Path, default=Path("bench/results/emulator_vtv.json"))
    args = parser.parse_args()

    audio = {q: np.concatenate([speak(q), np.zeros(1600, np.int16)]) for q in QUESTIONS}
    process, url = None, args.server
    if url is None:
        port = free_port()
        process, _ = start_server(port)
        url = f"ws://127.0.0.1:{port}/v1/device"
    try:
        print(f"VTV direct vs through the emulated firmware, {url}: {len(audio)} questions x {args.runs} runs", flush=True)
        rows = asyncio.run(measure(url, audio, args.runs))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    summary = summarise(rows)
    print()
    for name, value in summary.items():
        print(f"{name:>26}: {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "turns": rows, "cpu_count": os.cpu_count()}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
