"""Capacity: how many talking devices Hootkit holds with VTV p95 at most 1.5 s, on this machine (issue 18 part 3).

Simulated devices follow a classroom: each child asks a spoken question every 20-40 s (from the start of one
question to the start of the next), at real-time pace, over its own websocket that stays open. The questions are
piper's joe voice made child-like (pitch +250..+600 cents, tempo 0.9-1.15, as bench/hearing.py's), between room
noise; half of them have a 400-1200 ms thinking pause mid-sentence. VTV is the client's: last voiced sample sent
-> first reply audio. A turn the server answered before the child had finished (it committed in the pause) is a
cut-off, counted and left out of VTV; a turn with no complete reply in 30 s is failed.

Set-ups (each a fresh set of processes; every number in one run of this script on the same machine):
- `embedded`: one `hoot serve` with the embedded models (the default set-up).
- `remote`: one `hoot serve` whose speech and LLM engines run in separate local processes: wyoming-faster-whisper
  (tiny.en, as in-process), wyoming-piper (joe), and llama-cpp-python's OpenAI-compatible server on the embedded
  GGUF (2 threads, as in-process).
- `two-servers`: two `hoot serve` processes on one throwaway PostgreSQL cluster, sharing those remote engines;
  devices alternate between the two servers.

For each set-up the device counts of `--devices` are run in order, `--seconds` each after `--warmup` s of talk that
is not counted; the ramp of a set-up stops after the first count whose VTV p95 is over the loosest target (or with
a failed turn). The capacity is the largest count, up to the first that missed, that kept VTV p95 <= 1.5 s with
no failed turn; the same is reported for p95 <= 2.5 s and <= 4 s. On one 2-core
machine every process shares the same two cores, so `remote` and `two-servers` show what moving engines and
servers costs, not what more machines would give: more machines scale with the engines' machines.

Prints a table and writes bench/results/capacity.json.

    .venv/bin/python bench/capacity.py                                  # all three set-ups (about 45 minutes)
    .venv/bin/python bench/capacity.py --setups embedded --devices 2,4 --seconds 60 --warmup 20   # a smoke run
"""

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests"), str(BENCH.parent / "tests" / "remote"),
                str(BENCH.parent / "tests" / "store")]
from hearing_audio import child_like, frame, synthesize, with_pause  # noqa: E402
from load import machine_cpu_s  # noqa: E402
from remote_speech import stop, sweep_children  # noqa: E402
from speech_servers import SPEECH_VENV, started, wyoming_pair  # noqa: E402  (the tests' own)
from store_fixtures import postgres_cluster  # noqa: E402
from table import print_table  # noqa: E402
from vtv import answers_ok, free_port, memory_mb, percentile, start_server  # noqa: E402

from hootkit.client.device import DeviceClient  # noqa: E402
from hootkit.engines import models  # noqa: E402

TARGET_P95_MS = 1500  # the issue's
LOOSER_P95_MS = (2500, 4000)  # also reported: what a class gets when the target cannot be met at all
TARGETS = (TARGET_P95_MS, *LOOSER_P95_MS)
ASK_EVERY_S = (20.0, 40.0)
TURN_TIMEOUT_S = 30.0
SETUPS = ("embedded", "remote", "two-servers")
QUESTIONS = [
    "How many legs does a spider have?",
    "Why is the sky blue?",
    "What do plants need to grow?",
    "Is the sun a star?",
    "Why do cats have whiskers?",
    "How far away is the moon?",
    "What is the biggest animal in the sea?",
    "Why do leaves change colour in autumn?",
]


def utterances(seed: int = 18) -> list[tuple[np.ndarray, int, str]]:
    """(audio, index past its last voiced sample, text) for each question, whole and with a thinking pause."""
    rng = np.random.default_rng(seed)
    made = []
    for text in QUESTIONS:
        for paused in (False, True):
            if paused:
                words = len(text.split())
                speech, _ = with_pause(text, int(rng.integers(2, words - 1)), "piper-joe", float(rng.uniform(400, 1200)), rng)
            else:
                speech = synthesize(text, "piper-joe")
            child = child_like(speech, float(rng.uniform(250, 600)), float(rng.uniform(0.9, 1.15)))
            audio, end = frame(child, lead_s=0.3, tail_s=0.3, rng=rng)
            made.append((np.clip(audio * 32767, -32768, 32767).astype(np.int16), end, text))
    return made


async def child(url: str, index: int, pool: list, until: float, counted_from: float, rows: list, seed: int) -> None:
    """One device: a question every 20-40 s until `until`; turns begun after `counted_from` are rows."""
    rng = np.random.default_rng(seed)
    loop = asyncio.get_running_loop()
    await asyncio.sleep(float(rng.uniform(0, ASK_EVERY_S[1])))  # the class does not start in one breath
    client = None
    while (began := loop.time()) < until:
        audio, end, text = pool[int(rng.integers(len(pool)))]
        row = {"device": index, "question": text, "counted": began >= counted_from}
        try:
            if client is None:
                client = DeviceClient(url, device_id=f"cap-{index:03d}")
                await client.connect()
            turn = await client.ask(audio, speech_end=end, timeout_s=TURN_TIMEOUT_S)
            cut_off = turn.cut_off
            row.update(failed=False, cut_off=cut_off, vtv_ms=None if cut_off else turn.vtv_ms,
                       transcript=turn.transcript, stt_ms=turn.parts.get("stt"), parts=turn.parts)
        except Exception as error:  # a turn that failed is counted; the device connects again
            row.update(failed=True, cut_off=False, vtv_ms=None, error=repr(error)[:200])
            if client is not None:
                await client.close()
                client = None
        rows.append(row)
        await asyncio.sleep(max(0.0, began + float(rng.uniform(*ASK_EVERY_S)) - loop.time()))
    if client is not None:
        await client.close()


async def step(urls: list[str], devices: int, seconds: float, warmup: float, pool: list, seed: int) -> list[dict]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    rows: list[dict] = []
    await asyncio.gather(*(child(urls[i % len(urls)], i, pool, start + warmup + seconds, start + warmup, rows,
                                 seed * 1000 + i) for i in range(devices)))
    return rows


def summary(setup: str, devices: int, rows: list[dict], cpu_s: float, wall_s: float) -> dict:
    counted = [row for row in rows if row["counted"]]
    vtv = [row["vtv_ms"] for row in counted if row["vtv_ms"] is not None]
    failed = sum(row["failed"] for row in counted)
    p95 = percentile(vtv, 95)
    return {"setup": setup, "devices": devices, "turns": len(counted), "failed": failed,
            "cut_off": sum(row["cut_off"] for row in counted), "vtv_p50": percentile(vtv, 50), "vtv_p95": p95,
            "stt_p50": percentile([row["stt_ms"] for row in counted if row.get("stt_ms") is not None], 50),
            "cpu_%": round(100 * cpu_s / wall_s / (os.cpu_count() or 1), 1),
            **{f"holds_{target}": bool(vtv) and failed == 0 and p95 is not None and p95 <= target for target in TARGETS}}


def capacity(steps: list[dict], target: int) -> int:
    """The largest device count that held `target`, counting up to the first count that missed it."""
    held = 0
    for entry in steps:
        if not entry[f"holds_{target}"]:
            break
        held = entry["devices"]
    return held


def llama_server(port: int) -> subprocess.Popen:
    """llama-cpp-python's OpenAI-compatible server on the embedded GGUF, as in-process (2048 context, 2 threads)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(models.llm_gguf()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--model_alias", "embedded"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    answers_ok(f"http://127.0.0.1:{port}/v1/models", process, timeout_s=120)
    return process


def servers(setup: str, folder: Path, cleanup: ExitStack) -> tuple[list[str], dict[str, int]]:
    """Start a set-up's processes (stopped by `cleanup`); returns the device URLs and each process's pid."""
    env = {"HOOT_STT__LANGUAGE": "en"}
    pids: dict[str, int] = {}
    if setup != "embedded":
        stt, tts = cleanup.enter_context(started(wyoming_pair(folder / "speech")))
        llm_port = free_port()
        llm = llama_server(llm_port)
        cleanup.callback(stop, llm)
        pids.update({"wyoming stt": stt.process.pid, "wyoming tts": tts.process.pid, "llama.cpp server": llm.pid})
        env.update({"HOOT_STT__BACKEND": "wyoming", "HOOT_STT__URL": stt.url, "HOOT_TTS__BACKEND": "wyoming",
                    "HOOT_TTS__URL": tts.url, "HOOT_LLM__BACKEND": "openai", "HOOT_LLM__MODEL": "embedded",
                    "HOOT_LLM__BASE_URL": f"http://127.0.0.1:{llm_port}/v1"})
    names = ["A"]
    if setup == "two-servers":
        env["HOOT_STORE_URL"] = cleanup.enter_context(postgres_cluster())
        names = ["A", "B"]
    urls = []
    for name in names:  # one by one: loading competes for the cores
        port = free_port()
        process, ready = start_server(port, {**env, "HOOT_DATA_DIR": str(folder / name)})
        cleanup.callback(stop, process)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        print(f"  hoot {name} on port {port}: ready in {ready:.1f} s, healthz {health.get('status')}", flush=True)
        if health.get("status") != "ok":
            raise RuntimeError(f"hoot {name} is not healthy: {health}")
        pids[f"hoot {name}"] = process.pid
        urls.append(f"ws://127.0.0.1:{port}/v1/device")
    return urls, pids


def run_setup(setup: str, counts: list[int], args, pool: list) -> tuple[list[dict], dict]:
    steps, memory = [], {}
    with ExitStack() as cleanup:
        folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix=f"capacity-{setup}-")))
        print(f"{setup}:", flush=True)
        urls, pids = servers(setup, folder, cleanup)
        for devices in counts:
            cpu, wall = machine_cpu_s()[0], time.monotonic()
            rows = asyncio.run(step(urls, devices, args.seconds, args.warmup, pool, devices))
            entry = summary(setup, devices, rows, machine_cpu_s()[0] - cpu, time.monotonic() - wall)
            steps.append({**entry, "turn_rows": rows})
            print(f"  {devices:>3} devices: {entry['turns']} turns, p50 {entry['vtv_p50']} ms, p95 {entry['vtv_p95']} "
                  f"ms, failed {entry['failed']}, cut off {entry['cut_off']}, CPU {entry['cpu_%']} %", flush=True)
            if not entry[f"holds_{TARGETS[-1]}"]:
                break
        memory = {name: memory_mb(pid) for name, pid in pids.items() if Path(f"/proc/{pid}").exists()}
    return steps, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--devices", default="1,2,4,8,12,16", help="device counts, in order")
    parser.add_argument("--seconds", type=float, default=120, help="counted talk per device count")
    parser.add_argument("--warmup", type=float, default=30, help="talk before counting (the class settles in)")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "capacity.json")
    args = parser.parse_args()
    setups = [name.strip() for name in args.setups.split(",") if name.strip()]
    if unknown := set(setups) - set(SETUPS):
        sys.exit(f"unknown set-ups {sorted(unknown)}; choose from {SETUPS}")
    if set(setups) - {"embedded"} and not SPEECH_VENV.exists():
        sys.exit(f"no Wyoming speech servers in {SPEECH_VENV} (make install)")
    counts = [int(count) for count in args.devices.split(",")]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.out = args.out.resolve()
    os.chdir(BENCH.parent)  # `hoot serve` finds curriculum/ from the repository root
    pool = utterances()
    result = {"target_p95_ms": TARGET_P95_MS, "targets_ms": TARGETS, "ask_every_s": ASK_EVERY_S, "seconds": args.seconds,
              "warmup": args.warmup, "cpu_count": os.cpu_count(), "setups": {}}
    try:
        for setup in setups:
            steps, memory = run_setup(setup, counts, args, pool)
            result["setups"][setup] = {"capacity": {target: capacity(steps, target) for target in TARGETS},
                                       "steps": steps, "memory_mb": memory}
    finally:
        sweep_children()
    report(result, args.out)


def report(result: dict, out: Path) -> None:
    rows = [{key: value for key, value in entry.items() if key != "turn_rows"}
            for setup in result["setups"].values() for entry in setup["steps"]]
    columns = [("set-up", "setup", 12), ("devices", "devices", 8), ("turns", "turns", 6), ("failed", "failed", 7),
               ("cut off", "cut_off", 8), ("p50", "vtv_p50", 8), ("p95", "vtv_p95", 8), ("stt p50", "stt_p50", 8),
               ("CPU %", "cpu_%", 6)]
    print()
    print_table(f"VTV ms with children asking every {result['ask_every_s'][0]:g}-{result['ask_every_s'][1]:g} s",
                columns, rows)
    print()
    print_table("capacity: devices held with VTV p95 within the target and no failed turn",
                [("set-up", "setup", 12)] + [(f"<={target / 1000:g} s", str(target), 8) for target in TARGETS],
                [{"setup": name, **{str(target): held for target, held in setup["capacity"].items()}}
                 for name, setup in result["setups"].items()])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
