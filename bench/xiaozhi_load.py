"""Many XiaoZhi devices at once (protocol version 2, Opus both ways) against one server with fake engines: every
reply packet must arrive, in order, and decode.

The server runs in its own process, built as `hoot serve` builds it (`uvicorn_config`), with the tests' fake
engines, so what is measured is the gateway's own work: Opus decode and encode, the XiaoZhi translation, sessions,
endpointing, turns and paced audio. Each device speaks a tone in 60 ms Opus frames at real-time pace, then quiet,
waits for `tts stop`, and asks again. Version 2 frames carry a timestamp: the server stamps its packets 0, 60, 120
ms... per connection, so a missing or repeated stamp is a lost or doubled packet and a smaller one a reordered
packet. Prints a table and writes bench/results/xiaozhi_load.json.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np
import opuslib_next as opus
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).parent))
from table import print_table  # noqa: E402
from vtv import free_port  # noqa: E402

RATE = 16000
FRAME = RATE * 60 // 1000
HELLO = {"type": "hello", "version": 1, "features": {"mcp": False}, "transport": "websocket",
         "audio_params": {"format": "opus", "sample_rate": RATE, "channels": 1, "frame_duration": 60}}


def run_server(port: int, data_dir: str, devices: int) -> None:
    from hootkit.app import create_app
    from hootkit.engines.fakes import EnergyVad, FakeLlm, FakeStt, FakeTts
    from hootkit.engines.registry import Engines
    from hootkit.serving import HootServer, uvicorn_config
    from hootkit.settings import Settings

    cap = 2 * devices + 50  # every device comes from 127.0.0.1
    settings = Settings(host="127.0.0.1", port=port, data_dir=Path(data_dir), warmup=False, max_sessions=cap,
                        max_sessions_without_token=cap, max_sessions_per_address=cap)
    engines = Engines(vad=EnergyVad(), stt=FakeStt(), llm=FakeLlm(), tts=FakeTts())
    HootServer(uvicorn_config(create_app(settings, engines), settings, host="127.0.0.1", port=port,
                              log_level="warning")).run()


class Device:
    """One XiaoZhi board: hello, listen auto, Opus frames at their cadence, checks every reply packet."""

    def __init__(self, url: str, number: int):
        self.url, self.number = url, number
        self.encoder = opus.Encoder(RATE, 1, opus.APPLICATION_VOIP)
        self.decoder = opus.Decoder(RATE, 1)
        self.next_stamp = 0
        self.packets = self.lost = self.reordered = self.bad = self.turns = 0
        self.latencies: list[float] = []
        self.errors: list[str] = []

    async def run(self, turns: int, start_delay: float) -> None:
        await asyncio.sleep(start_delay)
        headers = {"Protocol-Version": "2", "Device-Id": f"be:00:00:00:{self.number // 256:02x}:{self.number % 256:02x}",
                   "Authorization": "Bearer "}
        try:
            async with connect(self.url, additional_headers=headers, open_timeout=30) as ws:
                await ws.send(json.dumps(HELLO))
                while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "hello":
                    pass
                for _ in range(turns):
                    await self.turn(ws)
        except Exception as error:  # a bench counts failures instead of stopping at the first
            self.errors.append(f"{type(error).__name__}: {error}")

    async def turn(self, ws) -> None:
        await ws.send(json.dumps({"type": "listen", "state": "start", "mode": "auto"}))
        t = np.arange(int(RATE * 1.2)) / RATE
        speech = np.concatenate([np.zeros(RATE * 3 // 10), 0.3 * np.sin(2 * np.pi * 220 * t), np.zeros(RATE * 2)])
        pcm = (speech * 32767).astype(np.int16)
        pcm = np.concatenate([pcm, np.zeros(-len(pcm) % FRAME, np.int16)])
        voiced_until = (RATE * 3 // 10 + len(t)) // FRAME
        loop = asyncio.get_running_loop()
        start = loop.time()
        spoke_at = None
        reader = asyncio.create_task(self.reply(ws))
        for index in range(len(pcm) // FRAME):
            if reader.done():
                break
            packet = self.encoder.encode(pcm[index * FRAME:(index + 1) * FRAME].tobytes(), FRAME)
            await ws.send(struct.pack(">HHIII", 2, 0, 0, index * 60, len(packet)) + packet)
            if index == voiced_until:
                spoke_at = loop.time()
            await asyncio.sleep(max(0.0, start + (index + 1) * 0.06 - loop.time()))
        first_audio = await asyncio.wait_for(reader, 30)
        if spoke_at is not None and first_audio is not None:
            self.latencies.append((first_audio - spoke_at) * 1000)
        self.turns += 1

    async def reply(self, ws) -> float | None:
        first = None
        while True:
            frame = await ws.recv()
            if isinstance(frame, str):
                if json.loads(frame) == {**json.loads(frame), "type": "tts", "state": "stop"}:
                    return first
                continue
            first = first or asyncio.get_running_loop().time()
            _, kind, _, stamp, size = struct.unpack(">HHIII", frame[:16])
            self.packets += 1
            if stamp > self.next_stamp:
                self.lost += (stamp - self.next_stamp) // 60
            elif stamp < self.next_stamp:
                self.reordered += 1
            self.next_stamp = max(self.next_stamp, stamp + 60)
            try:
                if len(self.decoder.decode(frame[16:16 + size], FRAME * 2)) != FRAME * 2:
                    self.bad += 1
            except opus.OpusError:
                self.bad += 1


async def measure(url: str, devices: int, turns: int, ramp_s: float) -> dict:
    crowd = [Device(url, number) for number in range(devices)]
    started = time.process_time()
    wall = time.perf_counter()
    await asyncio.gather(*(device.run(turns, ramp_s * number / devices) for number, device in enumerate(crowd)))
    latencies = [ms for device in crowd for ms in device.latencies]
    return {
        "devices": devices, "turns": sum(d.turns for d in crowd), "turns_wanted": devices * turns,
        "packets": sum(d.packets for d in crowd), "lost": sum(d.lost for d in crowd),
        "reordered": sum(d.reordered for d in crowd), "undecodable": sum(d.bad for d in crowd),
        "errors": [e for d in crowd for e in d.errors][:10], "error_count": sum(len(d.errors) for d in crowd),
        "reply_latency_p50_ms": round(statistics.median(latencies)) if latencies else None,
        "reply_latency_p95_ms": round(float(np.percentile(latencies, 95))) if latencies else None,
        "generator_cpu_pct": round(100 * (time.process_time() - started) / (time.perf_counter() - wall), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--turns", type=int, default=3, help="questions each device asks")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which devices connect")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "xiaozhi_load.json")
    args = parser.parse_args()
    import tempfile

    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = multiprocessing.get_context("spawn").Process(target=run_server, args=(port, data_dir, args.devices))
        server.start()
        try:
            asyncio.run(wait_listening(port))
            result = asyncio.run(measure(f"ws://127.0.0.1:{port}/xiaozhi/v1/", args.devices, args.turns, args.ramp))
        finally:
            server.terminate()
            server.join()
    result["cpus"] = os.cpu_count()
    print_table("XiaoZhi devices at once (fake engines, protocol 2, Opus)",
                [("devices", "devices", 9), ("turns", "turns", 7), ("packets", "packets", 9), ("lost", "lost", 6),
                 ("reordered", "reordered", 11), ("bad opus", "undecodable", 10), ("errors", "error_count", 8),
                 ("reply p50", "reply_latency_p50_ms", 11), ("reply p95", "reply_latency_p95_ms", 11),
                 ("gen cpu %", "generator_cpu_pct", 11)], [result])
    for error in result["errors"]:
        print("  error:", error)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


async def wait_listening(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start listening")


if __name__ == "__main__":
    main()
