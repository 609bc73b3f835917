"""VTV through the emulated firmware against the same server as a direct websocket client, in one run.

Starts `hoot serve` (embedded models) unless --server is given. It asks the same spoken questions in two
phases, each over one long session (so both keep the same conversation history): first with
`DeviceClient` (what bench/vtv.py and `hoot talk` measure: last voiced sample sent -> first reply frame
received), then through the real firmware on the MicroPython unix port (1 MB heap, real-time I2S
fakes): last voiced sample heard by the microphone -> first reply frame received by the firmware, plus
the device's own playout delay (jitter-buffer pre-roll). Interleaving the two would make each evict
the other's cached prompt in the LLM. `vad_lag_and_network` (VTV minus the server's own part) is the
path outside the server's compute, the part the firmware adds to. Prints a table and writes bench/results/emulator_vtv.json.
"""

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from vtv import QUESTIONS, free_port, percentile, start_server  # noqa: E402

from hootkit.client.device import DeviceClient  # noqa: E402
from hootkit.client.speech import speak  # noqa: E402
from hootkit.emulator.session import Session  # noqa: E402


async def measure_direct(url: str, audio: dict[str, np.ndarray], runs: int) -> list[dict]:
    rows = []
    async with DeviceClient(url) as client:
        for run in range(runs):
            for question, samples in audio.items():
                report = (await client.ask(samples)).to_json()
                rows.append({"run": run, "question": question, **report})
                print(f"  direct   {report['vtv_ms']!s:>7} ms  heard {report['transcript']!r}", flush=True)
    return rows


async def measure_emulated(url: str, audio: dict[str, np.ndarray], runs: int) -> list[dict]:
    rows = []
    async with Session(url) as session:
        for run in range(runs):
            for question, samples in audio.items():
                report = (await session.ask(samples)).to_json()
                rows.append({"run": run, "question": question, **report})
                print(f"  emulated {report['vtv_ms']!s:>7} ms (+{report['parts'].get('device_playout')} ms playout)"
                      f"  heard {report['transcript']!r}", flush=True)
    return rows


def summarise(rows: list[dict]) -> dict:
    def p50(name: str) -> float | None:
        values = [row["parts"][name] for row in rows if name in row["parts"]]
        return percentile(values, 50)

    vtv = [row["vtv_ms"] for row in rows if row["vtv_ms"] is not None]
    return {"turns": len(rows), "vtv_p50": percentile(vtv, 50), "vtv_p95": percentile(vtv, 95),
            "server_vtv_p50": p50("server_vtv"), "vad_lag_and_network_p50": p50("vad_lag_and_network"),
            "device_playout_p50": p50("device_playout")}


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
        direct = asyncio.run(measure_direct(url, audio, args.runs))
        emulated = asyncio.run(measure_emulated(url, audio, args.runs))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    summary = {"direct": summarise(direct), "emulated": summarise(emulated)}
    if summary["direct"]["vtv_p50"] and summary["emulated"]["vtv_p50"]:
        summary["emulated_over_direct_vtv_p50"] = round(summary["emulated"]["vtv_p50"] / summary["direct"]["vtv_p50"], 2)
    names = list(summary["direct"])
    print(f"\n{'':>10}" + "".join(f"{name.replace('_p50', ''):>22}" for name in names))
    for side in ("direct", "emulated"):
        print(f"{side:>10}" + "".join(f"{summary[side][name]!s:>22}" for name in names))
    print(f"emulated / direct VTV p50: {summary.get('emulated_over_direct_vtv_p50')}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "direct": direct, "emulated": emulated, "cpu_count": os.cpu_count()}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
