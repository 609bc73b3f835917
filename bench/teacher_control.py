"""How fast a teacher's pause silences a device, and what recording turns costs, through the real server.

A device (websocket client) asks; while the answer plays, the teacher's `POST /api/devices/{id}/control`
pauses it. Measured from sending the request: the `tts stop` of the cut reply and the last audio frame
of it at the device (target: quiet within 300 ms). Then, for finished turns: from the turn's last event
at the device (`tts stop`) to its `turn` news on `/api/live`, which the server sends only after the turn is
committed to the store (SQLite, WAL). Real embedded models with --models (the reply then comes from
SmolLM2 and piper), else the fake engines (fixed text, silent audio, same server path).
With --two-servers the device talks to one server and the teacher (the control requests and /api/live) to
another, both on one throwaway PostgreSQL cluster (the tests' own): the pause and the news cross over
PostgreSQL's LISTEN/NOTIFY (target: 300 ms p95 each). Both servers run in this process, on one event loop.
Prints a table and writes JSON (bench/results/teacher_control.json).
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack, nullcontext
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "store"))
from conftest import fake_engines, fast_settings, silence, tone  # noqa: E402
from store_fixtures import postgres_cluster  # noqa: E402
from table import print_table  # noqa: E402

from hootkit.app import create_app  # noqa: E402
from hootkit.client.device import DeviceClient  # noqa: E402
from hootkit.engines.fakes import FakeLlm, FakeStt  # noqa: E402
from hootkit.serving import serve_in_loop  # noqa: E402

LONG_REPLY = ["Spiders ", "have eight legs. "] + ["They walk, climb and spin silk all day long. "] * 12


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


async def pause_once(url: str, api: httpx.AsyncClient, question: np.ndarray, device_id: str) -> dict:
    async with DeviceClient(url, device_id=device_id) as device:
        device.heard_audio.clear()
        asking = asyncio.create_task(device.ask(question, timeout_s=120))
        await device.heard_audio.wait()
        sent = time.monotonic()
        response = await api.post(f"/api/devices/{device_id}/control", json={"command": "pause"})
        answered = time.monotonic()
        turn = await asking
        await device.notice()
        stop_at = turn.stop_at or answered
        last = turn.last_audio_at or stop_at
        await api.post(f"/api/devices/{device_id}/control", json={"command": "resume"})
        response.raise_for_status()
        return {"api_ms": (answered - sent) * 1000, "tts_stop_ms": (stop_at - sent) * 1000,
                "last_audio_ms": max(0.0, (last - sent) * 1000)}


async def record_once(url: str, live: asyncio.Queue, question: np.ndarray, device_id: str) -> float:
    async with DeviceClient(url, device_id=device_id) as device:
        ended = (await device.ask(question, timeout_s=120)).stop_at
        while True:
            kind, data, at = await asyncio.wait_for(live.get(), 60)
            if kind == "turn" and data["device_id"] == device_id and data["transcript"]:
                return (at - ended) * 1000


async def read_live(api: httpx.AsyncClient, queue: asyncio.Queue, connected: asyncio.Event) -> None:
    async with api.stream("GET", "/api/live") as response:
        kind = None
        async for line in response.aiter_lines():
            if line.startswith(": connected"):
                connected.set()
            elif line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                queue.put_nowait((kind, json.loads(line[6:]), time.monotonic()))


async def main(args) -> dict:
    if args.models:
        from hootkit.client.speech import speak
        from hootkit.engines.registry import load_engines
        from hootkit.settings import Settings

        engines = load_engines(Settings())
        question = np.concatenate([speak("Tell me everything about spiders, please."), silence(0.6)])
        settings = fast_settings(warmup=True, llm={"max_tokens": 200, "max_sentences": 8})
    else:
        engines = fake_engines(llm=FakeLlm(LONG_REPLY), stt=FakeStt("tell me about spiders"))
        question = np.concatenate([silence(0.2), tone(0.6), silence(0.1)])
        settings = fast_settings()
    pauses, records = [], []
    with postgres_cluster() if args.two_servers else nullcontext() as store_url:
        async with AsyncExitStack() as servers:
            urls = []
            for _ in range(2 if args.two_servers else 1):
                folder = Path(tempfile.mkdtemp(prefix="hoot-bench-"))
                app = create_app(settings.model_copy(update={"data_dir": folder, "store_url": store_url or ""}), engines)
                urls.append(await servers.enter_async_context(serve_in_loop(app)))
            url, teacher_url = urls[0], urls[-1]  # the device on the first server, the teacher on the last
            base = teacher_url.replace("ws://", "http://").split("/v1/")[0]
            async with httpx.AsyncClient(base_url=base, timeout=60) as api:
                live: asyncio.Queue = asyncio.Queue()
                connected = asyncio.Event()
                reader = asyncio.create_task(read_live(api, live, connected))
                await connected.wait()
                for run in range(args.runs):
                    pauses.append(await pause_once(url, api, question, f"bench-{run}"))
                    records.append(await record_once(url, live, question, f"bench-rec-{run}"))
                reader.cancel()
    if args.models:
        await engines.close()
    rows = {name: [p[name] for p in pauses] for name in ("api_ms", "tts_stop_ms", "last_audio_ms")}
    rows["turn_recorded_ms"] = records
    return {"engines": "embedded models" if args.models else "fakes", "runs": args.runs,
            "servers": "two on PostgreSQL (device on one, teacher on the other)" if args.two_servers else "one (SQLite)",
            "results": {name: {"p50": percentile(values, 50), "p95": percentile(values, 95),
                               "max": round(max(values), 1)} for name, values in rows.items()}}


def print_result(result: dict) -> None:
    print_table(f"teacher pause -> device quiet, and turn recording ({result['engines']}, {result['runs']} runs, "
                f"servers: {result['servers']})",
                [("measure", "measure", 20), ("p50 ms", "p50", 10), ("p95 ms", "p95", 10), ("max ms", "max", 10)],
                [{"measure": name, **numbers} for name, numbers in result["results"].items()])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--models", action="store_true", help="use the embedded models instead of the fakes")
    parser.add_argument("--two-servers", action="store_true", help="device and teacher on two servers sharing PostgreSQL")
    result = asyncio.run(main(parser.parse_args()))
    print_result(result)
    out = Path(__file__).parent / "results" / ("teacher_control_two_servers.json" if result["servers"].startswith("two")
                                               else "teacher_control.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
