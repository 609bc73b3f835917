"""What remote speech engines cost in VTV against in-process ones, on this machine, in one run
(issue 18: "remote Wyoming STT and TTS on this machine add at most 40 ms to VTV p50 against in-process").

Starts the remote servers the way tests/remote/speech_servers.py does, with the models Hootkit ships:
`--backend wyoming` (the default) wyoming-faster-whisper (Whisper tiny.en, beam 1, float32, 2 threads,
English: what Hootkit runs in-process) and wyoming-piper (en_US-joe-medium) from .venv/speech-servers;
`--backend openai` faster-whisper-server (the same model and settings) and local-tts-studio (piper, the joe
voice) from .venv/openai-speech. Then two `hoot serve` processes with their own temporary data dirs, the
embedded LLM and stt.language "en": A with the embedded STT and TTS, B with stt/tts.backend set to the backend.
Each round asks every question (bench/vtv.py's questions, adult and child voices, made with piper) of both
servers in turn, one at a time, through a fresh device connection at real-time pace; which server goes first
alternates by round, and one unmeasured question warms each server up first. VTV is bench/vtv.py's: last
voiced sample sent -> first reply audio received. Reports per server VTV p50/p95, the p50 of each latency
part the server reports in its `metrics` event (so the difference splits into STT and TTS), the memory of
each process, and B - A at p50. Prints tables and writes bench/results/remote_speech.json.

    .venv/bin/python bench/remote_speech.py                                # 6 rounds x 8 spoken questions
    .venv/bin/python bench/remote_speech.py --rounds 1 --questions 1       # a smoke run (2 turns per server)
    .venv/bin/python bench/remote_speech.py --backend openai               # OpenAI-compatible servers instead
"""

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests"), str(BENCH.parent / "tests" / "remote")]
from speech_servers import OPENAI_VENV, SPEECH_VENV, openai_pair, started, wyoming_pair  # noqa: E402  (the tests' own)
from table import print_table  # noqa: E402
from vtv import PARTS, QUESTIONS, VOICES, free_port, memory_mb, percentile, start_server  # noqa: E402

from hootkit.client.device import DeviceClient  # noqa: E402
from hootkit.client.speech import speak  # noqa: E402

TARGET_MS = 40


def stop(process) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def sweep_children() -> None:
    """SIGKILL any process this one started that is still there (a server caught mid-start by a signal)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == os.getpid():
                os.kill(int(stat.parent.name), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


async def ask(name: str, url: str, key: tuple[str, str], samples: np.ndarray, rnd: int | None) -> dict:
    try:
        async with DeviceClient(url) as client:
            report = (await client.ask(samples)).to_json()
    except (OSError, TimeoutError) as error:  # a failed turn is counted, not fatal
        report = {"transcript": None, "vtv_ms": None, "parts": {}, "alerts": [repr(error)]}
    label = "warm-up" if rnd is None else f"round {rnd}"
    print(f"  {name} {label:<8} {key[1]:<6} {report['vtv_ms']!s:>7} ms  heard {report['transcript']!r}",
          flush=True)
    return {"server": name, "round": rnd, "voice": key[1], "question": key[0], **report}


async def rounds(urls: dict[str, str], audio: dict, count: int) -> list[dict]:
    first = next(iter(audio))
    for name, url in urls.items():
        await ask(name, url, first, audio[first], None)
    rows = []
    for rnd in range(count):
        order = list(urls) if rnd % 2 == 0 else list(urls)[::-1]
        for key, samples in audio.items():
            for name in order:  # one question at a time: never both servers at once
                rows.append(await ask(name, urls[name], key, samples, rnd))
    return rows


def summary(rows: list[dict], name: str) -> dict:
    mine = [row for row in rows if row["server"] == name and row["vtv_ms"] is not None]
    vtv = [row["vtv_ms"] for row in mine]
    failed = sum(row["server"] == name for row in rows) - len(mine)
    alerts = sum(bool(row["alerts"]) for row in mine)  # e.g. the apology when an engine failed
    entry = {"server": name, "turns": len(mine), "failed": failed, "alerts": alerts,
             "vtv_p50": percentile(vtv, 50), "vtv_p95": percentile(vtv, 95)}
    for part in PARTS:
        entry[part] = percentile([row["parts"][part] for row in mine if part in row["parts"]], 50)
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help="the first N of bench/vtv.py's")
    parser.add_argument("--backend", choices=["wyoming", "openai"], default="wyoming")
    parser.add_argument("--out", type=Path, help="default: bench/results/remote_speech[_openai].json")
    args = parser.parse_args()
    args.out = args.out or BENCH / "results" / ("remote_speech.json" if args.backend == "wyoming" else "remote_speech_openai.json")
    venv, pair = (SPEECH_VENV, wyoming_pair) if args.backend == "wyoming" else (OPENAI_VENV, openai_pair)
    if not venv.exists():
        sys.exit(f"no {args.backend} speech servers in {venv} (make install)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on SIGTERM as on Ctrl-C

    audio = {(q, v): np.concatenate([speak(q, pitch=p, length_scale=ls), np.zeros(1600, np.int16)])
             for q in QUESTIONS[:args.questions] for v, (p, ls) in VOICES.items()}
    args.out = args.out.resolve()
    os.chdir(BENCH.parent)  # `hoot serve` finds curriculum/ from the repository root
    with ExitStack() as cleanup:
        cleanup.callback(sweep_children)  # last of all
        folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="remote-speech-")))
        stt, tts = cleanup.enter_context(started(pair(folder / "speech")))
        common = {"HOOT_STT__LANGUAGE": "en"}
        remote = {"HOOT_STT__BACKEND": args.backend, "HOOT_STT__URL": stt.url,
                  "HOOT_TTS__BACKEND": args.backend, "HOOT_TTS__URL": tts.url}
        hoots, ready, urls = {}, {}, {}
        for name, extra in (("A", {}), ("B", remote)):  # one by one: loading competes for the 2 cores
            port = free_port()
            env = {**common, **extra, "HOOT_DATA_DIR": str(folder / name)}
            process, ready[name] = start_server(port, env)
            cleanup.callback(stop, process)
            hoots[name], urls[name] = process, f"ws://127.0.0.1:{port}/v1/device"
            health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
            print(f"{name}: {'embedded' if name == 'A' else args.backend} speech on port {port}, ready in "
                  f"{ready[name]:.1f} s, healthz {health.get('status')} {health.get('engines', '')}",
                  flush=True)
            if health.get("status") != "ok":
                sys.exit(f"server {name} is not healthy: {health}")
        print(f"{args.rounds} rounds x {len(audio)} spoken questions per server", flush=True)
        rows = asyncio.run(rounds(urls, audio, args.rounds))
        memory = {f"hoot {name}": memory_mb(p.pid) for name, p in hoots.items()}
        memory.update({s.name: memory_mb(s.process.pid) for s in (stt, tts) if s.running})
    report(rows, memory, ready, args)


def report(rows: list[dict], memory: dict, ready: dict, args: argparse.Namespace) -> None:
    table = [summary(rows, "A"), summary(rows, "B")]
    a, b = table
    delta = {"server": "B - A", "turns": "", "failed": "", "alerts": ""}
    for key in ["vtv_p50", "vtv_p95", *PARTS]:
        delta[key] = None if a[key] is None or b[key] is None else round(b[key] - a[key], 1)
    ratio = round(b["vtv_p50"] / a["vtv_p50"], 3) if a["vtv_p50"] and b["vtv_p50"] else None
    short = {"endpoint_wait": "endpoint", "llm_first_token": "llm 1st", "first_clause": "clause",
             "tts_first_audio": "tts 1st", "server_vtv": "srv vtv", "vad_lag_and_network": "vad+net"}
    print()
    columns = [("server", "server", 8), ("turns", "turns", 6), ("fail", "failed", 5), ("alerts", "alerts", 7),
               ("p50", "vtv_p50", 8), ("p95", "vtv_p95", 8)] + [(short.get(p, p), p, 10) for p in PARTS]
    print_table(f"VTV ms (A: embedded speech, B: {args.backend} STT + TTS), p50 of the parts the server reports",
                columns, table + [delta])
    print()
    print_table("memory MB", [("process", "name", 24), ("RSS", "VmRSS", 8), ("peak", "VmHWM", 8)],
                [{"name": name, **m} for name, m in memory.items()])
    verdict = "met" if delta["vtv_p50"] is not None and delta["vtv_p50"] <= TARGET_MS else "missed"
    print(f"\nB - A at p50: {delta['vtv_p50']} ms (B/A {ratio}); target <= {TARGET_MS} ms: {verdict}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "backend": args.backend, "summary": table, "difference": delta, "ratio_p50": ratio, "target_ms": TARGET_MS, "verdict": verdict,
        "memory_mb": memory, "ready_s": ready, "rounds": args.rounds, "cpu_count": os.cpu_count(),
        "turns": rows,
    }, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
