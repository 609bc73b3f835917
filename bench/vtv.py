"""Voice-to-voice latency through the real websocket, against the in-process compute floor, in one run.

Starts `hoot serve` (embedded models) in its own process unless --server is given, speaks each
question (adult and pitch-raised, faster "child" voices, made with piper) through a fresh device
connection at real-time pace, and measures VTV from the last voiced sample sent to the first reply
audio received. Then it measures barge-in (abort -> last stale frame), server memory and
start-up, and finally the compute floor for the same questions in this process: STT + LLM to the
first clause + TTS of that clause. Prints a table and writes JSON (bench/results/vtv.json).
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from contextlib import aclosing
from pathlib import Path

import httpx
import numpy as np

from hootkit.client.device import DeviceClient
from hootkit.client.speech import speak

QUESTIONS = [
    "How many legs does a spider have?",
    "Why is the sky blue?",
    "What do plants need to grow?",
    "Is the sun a star?",
]
VOICES = {"adult": (1.0, 1.0), "child": (1.25, 0.85)}
PARTS = ["endpoint_wait", "stt", "llm_first_token", "first_clause", "tts_first_audio", "server_vtv", "vad_lag_and_network"]


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, settings_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, float]:
    """Start `hoot serve` (with HOOT_* settings added to its environment) and return it with the seconds
    from spawn to a 200 on /healthz."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "hootkit.cli", "serve", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(settings_env or {})},
    )
    answers_ok(f"http://127.0.0.1:{port}/healthz", process)
    return process, time.perf_counter() - started


def answers_ok(url: str, process: subprocess.Popen, timeout_s: float = 600) -> None:
    """Wait until `url` answers 200 (a server `process` started); RuntimeError if the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client() as client:
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{' '.join(map(str, process.args[:4]))} did not answer {url} (exit code {process.poll()})")


def memory_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = round(int(value.split()[0]) / 1024, 1)
    return fields


async def run_turns(url: str, audio: dict, runs: int) -> list[dict]:
    rows = []
    for run in range(runs):
        for (question, voice), samples in audio.items():
            async with DeviceClient(url) as client:
                result = await client.ask(samples)
            report = result.to_json()
            rows.append({"run": run, "voice": voice, "question": question, **report})
            print(f"  {voice:<6} {report['vtv_ms']!s:>7} ms  heard {report['transcript']!r}", flush=True)
    return rows


async def run_aborts(url: str, samples: np.ndarray, runs: int) -> list[float]:
    """Milliseconds from sending abort to the last reply frame received (0 if none came after it)."""
    gaps = []
    for _ in range(runs):
        async with DeviceClient(url) as client:
            result = await client.ask(samples, abort_after_s=0.3)
        if result.abort_sent_at is None:
            continue
        last = result.last_frame_at or result.abort_sent_at
        gaps.append(max(0.0, (last - result.abort_sent_at) * 1000))
    return gaps


def compute_floor(audio: dict, transcripts: dict, runs: int) -> dict:
    """In-process STT + LLM to first clause + TTS of that clause for the same questions."""
    from hootkit.engines.registry import load_engines
    from hootkit.pipeline.clauses import ClauseSplitter
    from hootkit.pipeline.prompt import Conversation
    from hootkit.settings import Settings

    settings = Settings()
    engines = load_engines(settings)
    conversation = Conversation(settings.llm.history_turns)

    async def first_clause(question: str) -> str:
        splitter = ClauseSplitter()
        async with aclosing(engines.llm.stream(conversation.messages(question), "floor")) as pieces:
            async for piece in pieces:
                clauses = splitter.push(piece)
                if clauses:
                    return clauses[0]
        return (splitter.flush() or [""])[0]

    async def measure() -> dict:
        await engines.warmup(conversation.messages("Hello!"))
        floors = {}
        for key, samples in audio.items():
            pcm = samples.astype(np.float32) / 32768
            totals = []
            for _ in range(runs):
                start = time.perf_counter()
                text = engines.stt.transcribe_now(pcm).text
                clause = await first_clause(text or transcripts.get(key) or key[0])
                async for _chunk in engines.tts.synthesize(clause, "floor"):
                    break
                totals.append((time.perf_counter() - start) * 1000)
            floors[key] = statistics.median(totals)
        await engines.close()
        return floors

    return asyncio.run(measure())


def summarise(rows: list[dict], floors: dict) -> list[dict]:
    table = []
    for voice in list(VOICES) + ["all"]:
        chosen = [row for row in rows if voice in ("all", row["voice"]) and row["vtv_ms"] is not None]
        vtv = [row["vtv_ms"] for row in chosen]
        floor = [floors[(row["question"], row["voice"])] for row in chosen]
        ratio = [v / f for v, f in zip(vtv, floor)]
        minus_wait = [(row["vtv_ms"] - row["parts"].get("endpoint_wait", 0)) / f for row, f in zip(chosen, floor)]
        entry = {"voice": voice, "turns": len(chosen), "vtv_p50": percentile(vtv, 50), "vtv_p95": percentile(vtv, 95),
                 "floor_p50": percentile(floor, 50), "vtv_over_floor_p50": round(float(np.median(ratio)), 2) if ratio else None,
                 "vtv_minus_endpoint_over_floor_p50": round(float(np.median(minus_wait)), 2) if minus_wait else None}
        for part in PARTS:
            entry[f"{part}_p50"] = percentile([row["parts"][part] for row in chosen if part in row["parts"]], 50)
        table.append(entry)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="times each question is asked")
    parser.add_argument("--abort-runs", type=int, default=5)
    parser.add_argument("--floor-runs", type=int, default=3)
    parser.add_argument("--server", help="use this running server instead of starting one")
    parser.add_argument("--out", type=Path, default=Path("bench/results/vtv.json"))
    args = parser.parse_args()

    audio = {(q, v): np.concatenate([speak(q, pitch=p, length_scale=ls), np.zeros(1600, np.int16)])
             for q in QUESTIONS for v, (p, ls) in VOICES.items()}
    process, ready_s, memory = None, None, {}
    url = args.server
    if url is None:
        port = free_port()
        process, ready_s = start_server(port)
        url = f"ws://127.0.0.1:{port}/v1/device"
    try:
        print(f"VTV through {url}: {len(audio)} spoken questions x {args.runs} runs", flush=True)
        rows = asyncio.run(run_turns(url, audio, args.runs))
        aborts = asyncio.run(run_aborts(url, audio[(QUESTIONS[1], "adult")], args.abort_runs))
        if process is not None:
            memory = memory_mb(process.pid)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    transcripts = {(row["question"], row["voice"]): row["transcript"] for row in rows}
    floors = compute_floor(audio, transcripts, args.floor_runs)
    table = summarise(rows, floors)

    columns = ["voice", "turns", "vtv_p50", "vtv_p95", "floor_p50", "vtv_over_floor_p50", "vtv_minus_endpoint_over_floor_p50"] + [f"{p}_p50" for p in PARTS]
    print()
    print(" ".join(f"{c.replace('_p50', ''):>14}" for c in columns))
    for entry in table:
        print(" ".join(f"{entry[c]!s:>14}" for c in columns))
    print(f"\nabort -> last stale frame at the client (ms): p50 {percentile(aborts, 50)}  max {max(aborts) if aborts else None}  ({len(aborts)} aborts)")
    print(f"server start to ready: {ready_s and round(ready_s, 2)} s; memory: {memory} MB")
    print("targets: VTV p50 <= 600 ms, p95 <= 900 ms; (VTV - endpoint wait) <= 1.15 x floor; abort <= 50 ms; RSS <= 900 MB; ready <= 15 s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": table, "turns": rows, "abort_ms": aborts, "ready_s": ready_s,
                                    "memory_mb": memory, "floor_ms": {f"{q} [{v}]": f for (q, v), f in floors.items()},
                                    "cpu_count": os.cpu_count()}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
