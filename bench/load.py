"""Load: N simulated devices talk in turns, at real-time pace, through the real websocket to a real server.

The server runs in its own process, built as `hoot serve` builds it (`uvicorn_config`, uvloop, websockets,
`ws_ping_interval=20`, info logging to a file), with fake engines: energy VAD, a fixed transcript, a scripted
reply, and a TTS whose reply audio is a running sample count per session. So what is measured is the server's own
work: the protocol, sessions, endpointing (the endpointer, the turn-end judge on the transcript, the VAD worker
thread), turns, pacing of the reply audio, the store (every session and turn is written to SQLite) and logging.
Not measured: the engines themselves, the semantic guard and knowledge lookups (no encoder is loaded), and the
resampler (the fake TTS speaks at the device's 16 kHz, so the reply audio passes through it untouched).

Each device (`--procs` generator processes, each with its own event loop) does what the firmware does in auto
mode: `listen start`, 16 kHz pcm16 frames of `--frame-ms` at their real cadence (silence while it "thinks", then a
tone it "speaks" for 1-2 s, then silence), stops streaming when the server says what it heard, plays the reply,
and starts again after `tts stop`. Per step it checks and counts:

- lost, extra or reordered reply frames: each reply frame's samples must continue the running count exactly, and
  a reply must carry as many frames as the words of its `sentence_start`s make (the TTS speaks 0.3 s a word);
- every spoken turn got its reply (`stt`, `tts start`, audio, `tts stop`);
- downlink pacing: inter-arrival of paced reply frames minus their nominal 40 ms (p50/p99/max of the absolute
  difference), and each frame's lateness against the server's schedule (pre-roll, then real time);
- reply latency: the last voiced frame sent -> the first reply frame received (the server commits after 200 ms
  of quiet when the transcript sounds finished);
- server RSS at the start of the measured window (after `--warmup` s) and at its end, server CPU; each generator
  process's CPU, how late it sent its own frames, and its event-loop lag (if those are high, the generator was
  the limit, not the server).

A step passes with 0 lost/extra/reordered frames, every turn answered, no errors (device side or ERROR lines in
the server's log), jitter p99 <= 20 ms and RSS within 5 %. Jitter is seen by the devices, so it includes the
generators' own delays: check their CPU and loop lag. `--soak-seconds` adds one long step at the largest passing N
(for ramps run with shorter steps than the issue's 10 minutes).

`--flood` then runs, at the largest passing N (or `--flood-devices`), two more steps on a server whose store is
filled with a school (`--report-devices` x `--report-turns` turns, one class): one without and one with, at
`--flood-at` s, 1,000 POST /api/login with wrong passwords (each from its own loopback address and user name, so
the per-address limit does not turn them away cheaply: every one reaches argon2 or its busy queue) while the class
report is fetched again and again. It compares the reply latency p95 of turns spoken during the flood with the
run without it.

The server's caps are raised for the bench (all devices come from 127.0.0.1): max_sessions,
max_sessions_per_address and max_sessions_without_token = 2 x N + 50. Devices are admitted as local devices (trust_local, pairing "remote"), as
tests do. Devices do not negotiate permessage-deflate (the firmware does not).

Prints a table and writes bench/results/load.json. Numbers; `pass` is the issue's criterion.
"""

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from table import print_table  # noqa: E402

RATE = 16000
WORD_S = 0.3  # the bench TTS speaks 0.3 s a word (a child-paced voice), so a reply is ~5 s
REPLY = ["A spider", " has eight legs,", " and each leg", " has seven parts.", " Can you count",
         " them on your fingers?"]
TICK = 1 << 16
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------------------------------------------
# the server process


def bench_engines():
    """Fake engines that keep nothing per call (the tests' fakes log every request, which would grow memory)."""
    from hootkit.engines.fakes import EnergyVad, FakeStt
    from hootkit.engines.registry import Engines

    class ScriptLlm:
        def __init__(self, pieces: list[str]):
            self.pieces = pieces

        async def stream(self, messages: list[dict], key: str):
            for piece in self.pieces:
                await asyncio.sleep(0)
                yield piece

    class CountingTts:
        """Reply audio at the device's rate (no resampling): sample k of a session's speech is k mod 2**16, so the
        device can tell a lost, repeated or reordered frame from the samples alone."""

        sample_rate = RATE

        def __init__(self):
            self._next: dict[str, int] = {}

        async def synthesize(self, text: str, key: str):
            count = int(self.sample_rate * WORD_S * max(1, len(text.split())))
            start = self._next.get(key, 0)
            self._next[key] = (start + count) % TICK
            await asyncio.sleep(0)
            yield ((start + np.arange(count, dtype=np.int64)) % TICK).astype(np.uint16).view(np.int16)

    return Engines(vad=EnergyVad(), stt=FakeStt(), llm=ScriptLlm(REPLY), tts=CountingTts())


def run_server(cfg: dict) -> None:
    import logging

    from hootkit.app import create_app
    from hootkit.serving import HootServer, uvicorn_config
    from hootkit.settings import Settings

    settings = Settings(host="127.0.0.1", port=cfg["port"], data_dir=Path(cfg["data_dir"]), warmup=False,
                        max_sessions=cfg["max_sessions"], max_sessions_per_address=cfg["max_sessions"],
                        max_sessions_without_token=cfg["max_sessions"])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = uvicorn_config(create_app(settings, bench_engines()), settings, host=settings.host, port=settings.port,
                            log_level="info", ws_ping_interval=20)
    if not cfg.get("profile"):
        HootServer(config).run()
        return
    import cProfile

    def leave(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, leave)  # uvicorn re-raises the signal once it has shut down: end with the profile
    profile = cProfile.Profile()
    profile.enable()
    try:
        HootServer(config).run()
    finally:
        profile.disable()
        profile.dump_stats(cfg["profile"])


# ---------------------------------------------------------------------------------------------------------------
# a generator process: many devices in one event loop


def now_ms() -> float:
    return time.perf_counter() * 1000


class Device:
    def __init__(self, gen: "Generator", index: int, rng: random.Random):
        self.gen = gen
        self.device_id = f"load-{gen.cfg['proc']:02d}-{index:04d}"
        self.rng = rng
        self.ws = None
        self.turn: dict | None = None
        self.heard = asyncio.Event()
        self.done = asyncio.Event()
        self.down_frame = 640

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        headers = {"Device-Id": self.device_id, "Client-Id": "bench-load", "Protocol-Version": "1"}
        self.ws = await connect(self.gen.cfg["url"], additional_headers=headers, compression=None, max_size=2**20,
                                open_timeout=60, ping_interval=20, ping_timeout=60)
        params = {"format": "pcm16", "sample_rate": RATE, "channels": 1, "frame_duration": self.gen.cfg["frame_ms"]}
        await self.ws.send(json.dumps({"type": "hello", "version": 1, "transport": "websocket", "audio_params": params,
                                       "features": {"metrics": True}}))
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if message.get("type") == "hello":
                down = message["audio_params"]
                self.down_frame = down["sample_rate"] * down["frame_duration"] // 1000
                self.down_frame_ms = down["frame_duration"]
                break

    async def run(self, start: float, end: float) -> None:
        reader = asyncio.create_task(self.read())
        try:
            await self.talk(start, end)
        except Exception as error:  # the connection went away mid-turn (read() counts the disconnect)
            self.gen.errors.append(f"{self.device_id}: stopped talking: {type(error).__name__}: {error}")
        finally:
            try:
                await asyncio.wait_for(self.ws.close(), 10)
            except Exception:
                pass
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def talk(self, start: float, end: float) -> None:
        gen, cfg = self.gen, self.gen.cfg
        loop = asyncio.get_running_loop()
        frame_s = cfg["frame_ms"] / 1000
        # spread the devices: each starts its first turn somewhere in the first few seconds, off the others' phase
        await asyncio.sleep(max(0.0, start - loop.time()) + self.rng.uniform(0, 3.0))
        while loop.time() < end and not gen.closed:
            think_s = self.rng.uniform(*cfg["think_s"])
            speech_s = self.rng.uniform(*cfg["speech_s"])
            turn = self.turn = {"heard": None, "reply": False, "frames": [], "first": None, "expected": 0,
                                "spoke_until": None, "stop": False}
            self.heard.clear()
            self.done.clear()
            await self.ws.send(json.dumps({"type": "listen", "state": "start", "mode": "auto"}))
            gen.stats["turns_spoken"] += 1
            t0 = loop.time()
            think_frames = int(think_s / frame_s)
            speech_frames = int(speech_s / frame_s)
            k = 0
            deadline = None
            while not self.heard.is_set():
                due = t0 + k * frame_s
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                gen.send_late.append((loop.time() - due) * 1000)
                voiced = think_frames <= k < think_frames + speech_frames
                await self.ws.send(gen.tone if voiced else gen.silence)
                if voiced and k == think_frames + speech_frames - 1:
                    turn["spoke_until"] = now_ms()
                    turn["spoke_until_epoch"] = time.time()
                    deadline = loop.time() + cfg["heard_timeout_s"]
                k += 1
                if deadline is not None and loop.time() > deadline:
                    break
            if not self.heard.is_set():
                gen.stats["unanswered"] += 1
                gen.errors.append(f"{self.device_id}: nothing heard {cfg['heard_timeout_s']} s after speaking")
                continue
            try:
                await asyncio.wait_for(self.done.wait(), cfg["reply_timeout_s"])
            except TimeoutError:
                gen.stats["unanswered"] += 1
                gen.errors.append(f"{self.device_id}: no tts stop {cfg['reply_timeout_s']} s after stt")
                continue
            if turn["reply"]:
                gen.stats["turns_answered"] += 1
            self.turn = None

    async def read(self) -> None:
        gen = self.gen
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    self.on_audio(message)
                else:
                    self.on_text(json.loads(message))
        except Exception as error:  # ConnectionClosed and anything else: the device is gone
            if not gen.closed:
                gen.errors.append(f"{self.device_id}: connection lost: {type(error).__name__}: {error}")
                gen.stats["disconnects"] += 1

    def on_text(self, event: dict) -> None:
        gen, turn = self.gen, self.turn
        kind = event.get("type")
        if kind == "alert":
            gen.alerts[event.get("code", "?")] = gen.alerts.get(event.get("code", "?"), 0) + 1
            if turn is not None and event.get("code") == "no_speech":
                gen.errors.append(f"{self.device_id}: no_speech")
                self.heard.set()
                self.done.set()
            return
        if kind == "metrics":
            vtv = event.get("parts", {}).get("server_vtv")
            if vtv is not None:
                gen.server_vtv.append(vtv)
            return
        if turn is None:
            if kind == "tts":
                gen.stats["unasked_tts"] += 1
            return
        if kind == "stt":
            turn["heard"] = event.get("text")
            self.heard.set()  # the firmware stops streaming here
        elif kind == "tts":
            state = event.get("state")
            if state == "sentence_start":
                turn["expected"] += int(RATE * WORD_S * max(1, len(event.get("text", "").split())))
            elif state == "stop":
                self.finish(turn)
                self.done.set()

    def on_audio(self, data: bytes) -> None:
        turn = self.turn
        if turn is None:
            self.gen.stats["frames_outside_turn"] += 1
            return
        arrived = now_ms()
        samples = np.frombuffer(data, dtype="<u2")
        if turn["first"] is None:
            turn["first"] = arrived
            if turn["spoke_until"] is not None:
                self.gen.latency.append((turn["spoke_until_epoch"], arrived - turn["spoke_until"]))
        turn["frames"].append((arrived, int(samples[0]), int(samples[-1]), len(samples)))

    def finish(self, turn: dict) -> None:
        """The reply is over: count its frames against what its sentences make, check the running count."""
        gen = self.gen
        frames = turn["frames"]
        expected = math.ceil(turn["expected"] / self.down_frame)
        got = len(frames)
        gen.stats["frames"] += got
        gen.stats["frames_expected"] += expected
        gen.stats["lost"] += max(0, expected - got)
        gen.stats["extra"] += max(0, got - expected)
        breaks = 0
        for (_, first, _, _), (_, first_next, _, _) in zip(frames, frames[1:]):
            step = (first_next - first) % TICK
            if step == self.down_frame:
                continue
            breaks += 1
            if step == 0 or step > TICK // 2:
                gen.stats["reordered"] += 1  # went back: a frame repeated or out of order
            else:
                gen.stats["gaps"] += 1  # skipped ahead: frames missing in between
        for index, (_, first, last, size) in enumerate(frames):
            full = (last - first) % TICK == size - 1
            if not full and index != got - 1:
                gen.stats["corrupt"] += 1  # not one piece of the running count (only the last frame is padded)
        if got and expected == got and not breaks:
            turn["reply"] = True
        # pacing: the server sends the pre-roll at once, then one frame per frame time
        lead = gen.cfg["pre_roll_ms"]
        step_ms = self.down_frame_ms
        if frames:
            start = frames[0][0]
            previous = 0.0
            for index in range(1, got):
                nominal = max(0.0, index * step_ms - lead)
                gen.lateness.append(frames[index][0] - start - nominal)
                if nominal > 0:  # a paced frame: compare its inter-arrival with the nominal step
                    gen.jitter.append(abs(frames[index][0] - frames[index - 1][0] - (nominal - previous)))
                previous = nominal


class Generator:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.closed = False
        self.stats = {key: 0 for key in ("connected", "connect_failed", "turns_spoken", "turns_answered", "unanswered",
                                         "frames", "frames_expected", "lost", "extra", "reordered", "gaps", "corrupt",
                                         "disconnects", "unasked_tts", "frames_outside_turn")}
        self.errors: list[str] = []
        self.alerts: dict[str, int] = {}
        self.latency: list[tuple[float, float]] = []
        self.server_vtv: list[float] = []
        self.jitter = array("f")
        self.lateness = array("f")
        self.send_late = array("f")
        self.loop_lag = array("f")
        frame = RATE * cfg["frame_ms"] // 1000
        t = np.arange(frame) / RATE
        self.tone = (0.3 * np.sin(2 * np.pi * 300 * t) * 32767).astype("<i2").tobytes()
        self.silence = bytes(2 * frame)

    async def lag_ticker(self) -> None:
        while not self.closed:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.loop_lag.append((time.perf_counter() - before - 0.01) * 1000)

    async def main(self) -> dict:
        cfg = self.cfg
        rng = random.Random(cfg["seed"])
        devices = [Device(self, index, random.Random(rng.random())) for index in range(cfg["count"])]
        gate = asyncio.Semaphore(8)

        async def connect(device: Device) -> bool:
            async with gate:
                try:
                    await device.connect()
                    self.stats["connected"] += 1
                    return True
                except Exception as error:
                    self.stats["connect_failed"] += 1
                    self.errors.append(f"{device.device_id}: connect failed: {type(error).__name__}: {error}")
                    return False

        ok = await asyncio.gather(*(connect(device) for device in devices))
        devices = [device for device, good in zip(devices, ok) if good]
        print(json.dumps({"ready": len(devices)}), flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        start_epoch = json.loads(line)["start"]
        loop = asyncio.get_running_loop()
        start = loop.time() + (start_epoch - time.time())
        end = start + cfg["seconds"]
        cpu_before = os.times()
        wall_before = time.perf_counter()
        ticker = asyncio.create_task(self.lag_ticker())
        talking = asyncio.gather(*(device.run(start, end) for device in devices))
        measure_from = start_epoch + cfg["warmup_s"]
        await asyncio.sleep(max(0.0, start + cfg["warmup_s"] - loop.time()))
        del self.loop_lag[:]
        del self.send_late[:]
        cpu_warm, wall_warm = os.times(), time.perf_counter()
        await asyncio.sleep(max(0.0, end - loop.time()))
        cpu_after, wall_after = os.times(), time.perf_counter()
        await talking
        self.closed = True
        ticker.cancel()
        used = lambda a, b: (b.user - a.user) + (b.system - a.system)  # noqa: E731
        out = Path(cfg["out"])
        np.save(out.with_suffix(".jitter.npy"), np.frombuffer(self.jitter, np.float32))
        np.save(out.with_suffix(".lateness.npy"), np.frombuffer(self.lateness, np.float32))
        return {"proc": cfg["proc"], "stats": self.stats, "alerts": self.alerts, "errors": self.errors[:50],
                "error_count": len(self.errors), "latency": self.latency, "server_vtv": self.server_vtv,
                "measure_from": measure_from,
                "cpu_pct": round(100 * used(cpu_warm, cpu_after) / max(1e-9, wall_after - wall_warm), 1),
                "cpu_pct_all": round(100 * used(cpu_before, cpu_after) / max(1e-9, wall_after - wall_before), 1),
                "send_late_p99_ms": pct(self.send_late, 99), "send_late_max_ms": pct(self.send_late, 100),
                "loop_lag_p99_ms": pct(self.loop_lag, 99), "loop_lag_max_ms": pct(self.loop_lag, 100)}


def run_generator(cfg: dict) -> None:
    import uvloop

    result = uvloop.run(Generator(cfg).main())
    Path(cfg["out"]).write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------------------------------
# the orchestrator


def pct(values, q: float) -> float | None:
    if len(values) == 0:
        return None
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q)), 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its threads (children not included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu_s() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, summed over its CPUs."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK, sum(fields[:8]) / CLK_TCK


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Sampler:
    """The server's RSS and CPU once a second."""

    def __init__(self, pid: int):
        self.pid = pid
        self.samples: list[tuple[float, float, float, float]] = []  # (epoch, rss MB, cpu s, machine busy s)

    async def run(self) -> None:
        while True:
            try:
                self.samples.append((time.time(), proc_rss_mb(self.pid), proc_cpu_s(self.pid), machine_cpu_s()[0]))
            except (FileNotFoundError, ProcessLookupError):
                return
            await asyncio.sleep(1.0)

    def at(self, epoch: float) -> tuple[float, float, float, float]:
        return min(self.samples, key=lambda sample: abs(sample[0] - epoch))


async def wait_healthy(port: int, server: subprocess.Popen, timeout_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited ({server.returncode}) before it was ready")
            try:
                response = await client.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server was not ready in time")


async def fill_store(folder: Path, devices: int, turns: int) -> int:
    """A school in a fresh store at `folder`: `devices` paired devices in one class, `turns` turns each (every 10th
    flagged), written in one transaction as bench/report_jitter.py does. The class id."""
    sys.path.insert(0, str(ROOT / "tests" / "store"))
    from sqlalchemy import insert
    from store_helpers import crowd

    from hootkit.store.db import Store
    from hootkit.store.tables import Device

    store = await Store.open(Store.url_for(folder))
    try:
        ids = await crowd(store, devices, turns, flag_every=10)
        classroom = await store.add_class("school", None)
        async with store.sessions.begin() as session:
            await session.execute(insert(Device), [{"id": device_id, "name": device_id, "class_id": classroom.id}
                                                   for device_id in ids])
        return classroom.id
    finally:
        await store.close()


async def flood(port: int, logins: int, concurrency: int, class_id: int, result: dict, reports_on: bool = True,
                min_report_s: float = 0) -> None:
    """`logins` wrong-password logins, each from its own loopback address and user name, `concurrency` at a time,
    while the class report is fetched again and again; fills `result`."""
    import httpx

    statuses: dict[str, int] = {}
    took: list[float] = []
    reports: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(logins):
        queue.put_nowait(i)

    async def login(i: int) -> None:
        address = f"127.{1 + i // 62500}.{(i // 250) % 250 + 1}.{i % 250 + 1}"
        body = json.dumps({"username": f"flood-{i}", "password": f"not-the-password-{i}"}).encode()
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
            writer.write(b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            status = (await reader.readline()).split()[1].decode()
            await reader.read()
            writer.close()
        except Exception as error:
            status = type(error).__name__
        statuses[status] = statuses.get(status, 0) + 1
        took.append((time.perf_counter() - started) * 1000)

    async def worker() -> None:
        while not queue.empty():
            await login(queue.get_nowait())

    async def report_loop(stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=120) as client:
            while not stop.is_set() or not reports:
                started = time.perf_counter()
                response = await client.get(f"http://127.0.0.1:{port}/api/classes/{class_id}/report")
                response.raise_for_status()
                result["report_devices"] = len(response.json()["reports"])
                reports.append((time.perf_counter() - started) * 1000)

    stop = asyncio.Event()
    result["start"] = time.time()
    reporting = asyncio.create_task(report_loop(stop)) if reports_on else None
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result["logins_end"] = time.time()
    await asyncio.sleep(max(0.0, result["start"] + min_report_s - time.time()))
    stop.set()
    if reporting is not None:
        await reporting
    result["end"] = time.time()
    result.update(logins=logins, concurrency=concurrency, statuses=statuses, login_p50_ms=pct(took, 50),
                  login_max_ms=pct(took, 100), reports=len(reports), report_ms=[round(r) for r in reports])


async def run_step(args, devices: int, seconds: float, store_dir: Path | None = None, class_id: int | None = None,
                   flood_at: float | None = None, label: str = "") -> dict:
    work = Path(tempfile.mkdtemp(prefix="hoot-load-"))
    data_dir = work / "data"
    if store_dir is not None:
        shutil.copytree(store_dir, data_dir)
    port = free_port()
    caps = 2 * devices + 50
    server_cfg = {"port": port, "data_dir": str(data_dir), "max_sessions": caps, "profile": args.profile_server}
    log_path = work / "server.log"
    python = sys.executable
    with open(log_path, "w") as log:
        server = subprocess.Popen([python, __file__, "--role", "server", "--config", json.dumps(server_cfg)],
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    generators: list[subprocess.Popen] = []
    try:
        await wait_healthy(port, server)
        sampler = Sampler(server.pid)
        sampling = asyncio.create_task(sampler.run())
        rss_idle = proc_rss_mb(server.pid)
        procs = args.procs or max(1, math.ceil(devices / args.per_proc))
        shares = [devices // procs + (1 if i < devices % procs else 0) for i in range(procs)]
        outs = []
        for proc, count in enumerate(shares):
            out = work / f"gen{proc}.json"
            outs.append(out)
            cfg = {"proc": proc, "count": count, "url": f"ws://127.0.0.1:{port}/v1/device", "frame_ms": args.frame_ms,
                   "seconds": seconds, "warmup_s": args.warmup, "think_s": [1.0, 3.0], "speech_s": [1.0, 2.0],
                   "heard_timeout_s": 10.0, "reply_timeout_s": 30.0, "pre_roll_ms": 120, "seed": 1000 * devices + proc,
                   "out": str(out)}
            generators.append(subprocess.Popen([python, __file__, "--role", "devices", "--config", json.dumps(cfg)],
                                               cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        loop = asyncio.get_running_loop()
        ready = 0
        for generator in generators:
            line = await loop.run_in_executor(None, generator.stdout.readline)
            if not line:
                raise RuntimeError("a generator process failed while connecting")
            ready += json.loads(line)["ready"]
        rss_connected = proc_rss_mb(server.pid)
        start = time.time() + 1.0
        for generator in generators:
            generator.stdin.write(json.dumps({"start": start}) + "\n")
            generator.stdin.flush()
        await asyncio.sleep(max(0.0, start + args.warmup - time.time()))
        gen_cpu0 = {g.pid: proc_cpu_s(g.pid) for g in generators}
        gen_t0 = time.time()
        flood_result: dict = {}
        flooding = None
        if flood_at is not None:
            assert flood_at > args.warmup
            await asyncio.sleep(max(0.0, start + flood_at - time.time()))
            flooding = asyncio.create_task(flood(port, args.flood_logins, args.flood_concurrency, class_id, flood_result,
                                                 reports_on=not args.no_reports, min_report_s=args.report_min_s))
        await asyncio.sleep(max(0.0, start + seconds - time.time()))
        end_sample = sampler.samples[-1]
        gen_cpu1 = {g.pid: proc_cpu_s(g.pid) for g in generators}
        gen_t1 = time.time()
        if flooding is not None:
            await flooding
        for generator in generators:
            await loop.run_in_executor(None, generator.wait)
        sampling.cancel()
        server_counts = await server_counters(port)
        results = [json.loads(out.read_text()) for out in outs]
        jitter = np.concatenate([np.load(out.with_suffix(".jitter.npy")) for out in outs])
        lateness = np.concatenate([np.load(out.with_suffix(".lateness.npy")) for out in outs])
    finally:
        for generator in generators:
            if generator.poll() is None:
                generator.kill()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    log_text = log_path.read_text(errors="replace")
    lines = log_text.splitlines()
    server_errors = [line for line in lines if " ERROR " in line or line.startswith("Traceback")]
    tracebacks = ["\n".join(lines[i: i + 25]) for i, line in enumerate(lines) if line.startswith("Traceback")][:3]
    stats: dict[str, int] = {}
    alerts: dict[str, int] = {}
    for result in results:
        for key, value in result["stats"].items():
            stats[key] = stats.get(key, 0) + value
        for key, value in result["alerts"].items():
            alerts[key] = alerts.get(key, 0) + value
    measure_from = start + args.warmup
    warm = sampler.at(measure_from)
    window = end_sample[0] - warm[0]
    latency_all = [(at, ms) for result in results for at, ms in result["latency"]]
    latency = [ms for at, ms in latency_all if at >= measure_from]
    errors = sum(result["error_count"] for result in results) + len(server_errors)
    row = {
        "label": label or f"{devices} devices",
        "devices": devices, "connected": ready, "seconds": seconds, "warmup_s": args.warmup, "procs": len(generators),
        "frame_ms": args.frame_ms,
        "turns": stats["turns_spoken"], "answered": stats["turns_answered"], "unanswered": stats["unanswered"],
        "frames": stats["frames"], "frames_expected": stats["frames_expected"], "lost": stats["lost"],
        "extra": stats["extra"], "reordered": stats["reordered"], "gaps": stats["gaps"], "corrupt": stats["corrupt"],
        "jitter_p50_ms": pct(jitter, 50), "jitter_p99_ms": pct(jitter, 99), "jitter_max_ms": pct(jitter, 100),
        "late_p50_ms": pct(lateness, 50), "late_p99_ms": pct(lateness, 99), "late_max_ms": pct(lateness, 100),
        "latency_p50_ms": pct(latency, 50), "latency_p95_ms": pct(latency, 95), "latency_max_ms": pct(latency, 100),
        "server_vtv_p95_ms": pct([v for r in results for v in r["server_vtv"]], 95),
        "rss_idle_mb": round(rss_idle, 1), "rss_connected_mb": round(rss_connected, 1),
        "rss_start_mb": round(warm[1], 1), "rss_end_mb": round(end_sample[1], 1),
        "rss_growth_pct": round(100 * (end_sample[1] - warm[1]) / warm[1], 1),
        "server_cpu_pct": round(100 * (end_sample[2] - warm[2]) / max(1e-9, window), 1),
        "server_cpu_max5s_pct": max_window_cpu(sampler.samples, measure_from, end_sample[0], 5),
        "gen_cpu_pct": [r["cpu_pct"] for r in results],
        "gen_cpu_total_pct": round(sum(100 * (gen_cpu1[pid] - gen_cpu0[pid]) for pid in gen_cpu0)
                                   / max(1e-9, gen_t1 - gen_t0), 1),
        "machine_busy_pct": round(100 * (end_sample[3] - warm[3]) / max(1e-9, window), 1),
        "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
        "gen_send_late_p99_ms": max((r["send_late_p99_ms"] or 0) for r in results),
        "gen_send_late_max_ms": max((r["send_late_max_ms"] or 0) for r in results),
        "gen_loop_lag_p99_ms": max((r["loop_lag_p99_ms"] or 0) for r in results),
        "gen_loop_lag_max_ms": max((r["loop_lag_max_ms"] or 0) for r in results),
        "server_counts": server_counts, "alerts": alerts, "disconnects": stats["disconnects"],
        "connect_failed": stats["connect_failed"],
        "unasked_tts": stats["unasked_tts"], "frames_outside_turn": stats["frames_outside_turn"],
        "errors": errors, "error_samples": [e for r in results for e in r["errors"]][:10] + server_errors[:10],
        "rss_series": [(round(at - start, 1), round(rss, 1))
                       for at, rss, *_ in sampler.samples[:: max(1, len(sampler.samples) // 60)]],
    }
    # rough: /proc/stat is tick-sampled and undercounts bursty work (it can come out negative); it says whether
    # other jobs on the machine were busy during the step
    row["others_cpu_pct"] = round(row["machine_busy_pct"] - row["server_cpu_pct"] - row["gen_cpu_total_pct"], 1)
    row["pass"] = bool(
        row["connected"] == devices and row["lost"] == 0 and row["reordered"] == 0 and row["gaps"] == 0
        and row["extra"] == 0 and row["corrupt"] == 0 and row["unanswered"] == 0 and row["errors"] == 0
        and row["jitter_p99_ms"] is not None and row["jitter_p99_ms"] <= 20 and abs(row["rss_growth_pct"]) <= 5)
    if flood_at is not None:
        row["flood"] = flood_result
        during = [ms for at, ms in latency_all if flood_result["start"] <= at <= flood_result["end"]]
        before = [ms for at, ms in latency_all if measure_from <= at < flood_result["start"]]
        row.update(flood_turns=len(during), flood_latency_p95_ms=pct(during, 95), flood_latency_max_ms=pct(during, 100),
                   preflood_latency_p95_ms=pct(before, 95))
    row["server_tracebacks"] = tracebacks
    if server_errors:
        kept = Path(tempfile.gettempdir()) / f"hoot-load-server-{devices}-{int(start)}.log"
        shutil.copy(log_path, kept)
        row["server_log"] = str(kept)
    shutil.rmtree(work, ignore_errors=True)
    return row


async def server_counters(port: int) -> dict:
    """The server's own counts from /metrics: turns by outcome, protocol errors, ignored uplink frames."""
    import httpx

    counts: dict[str, float] = {}
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics", timeout=30)).text
    for line in text.splitlines():
        if line.startswith(("hoot_turns_total", "hoot_protocol_errors_total", "hoot_dropped_uplink_frames_total")):
            name, value = line.rsplit(" ", 1)
            counts[name] = float(value)
    return counts


def max_window_cpu(samples, start: float, end: float, width: int) -> float | None:
    inside = [s for s in samples if start <= s[0] <= end]
    best = None
    for a, b in zip(inside, inside[width:]):
        value = 100 * (b[2] - a[2]) / max(1e-9, b[0] - a[0])
        best = value if best is None else max(best, value)
    return None if best is None else round(best, 1)


def cell(row: dict) -> dict:
    shown = dict(row)
    shown["lost_reord"] = f"{row['lost']}/{row['extra']}/{row['gaps'] + row['reordered']}"
    shown["turns_ok"] = f"{row['answered']}/{row['turns']}"
    shown["jitter"] = f"{row['jitter_p50_ms']}/{row['jitter_p99_ms']}/{row['jitter_max_ms']}"
    shown["rss"] = f"{row['rss_start_mb']:.0f}->{row['rss_end_mb']:.0f} ({row['rss_growth_pct']:+.1f}%)"
    shown["latency"] = f"{row['latency_p50_ms']}/{row['latency_p95_ms']}"
    shown["gen"] = "/".join(f"{c:.0f}" for c in row["gen_cpu_pct"]) + f" lag{row['gen_loop_lag_p99_ms']}"
    return shown


COLUMNS = [("step", "label", 18), ("s", "seconds", 5), ("turns ok", "turns_ok", 11), ("lost/dup/reord", "lost_reord", 15),
           ("jitter p50/p99/max", "jitter", 20), ("late p99", "late_p99_ms", 9), ("reply p50/p95", "latency", 15),
           ("server rss MB", "rss", 22), ("srv cpu%", "server_cpu_pct", 9), ("gen cpu% lag p99", "gen", 20),
           ("others cpu%", "others_cpu_pct", 12), ("errors", "errors", 7), ("pass", "pass", 6)]


async def main(args) -> dict:
    counts = [int(n) for n in args.devices.split(",")]
    result: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
                    "argv": sys.argv[1:], "frame_ms": args.frame_ms, "word_s": WORD_S, **git_state(), "steps": []}
    out = Path(__file__).parent / "results" / "load.json"
    if args.merge and out.exists():  # add to (or redo steps of) an earlier run: its other steps are kept
        earlier = json.loads(out.read_text())
        redone = {f"{n} devices" for n in counts}
        result["earlier_runs"] = earlier.get("earlier_runs", []) + [
            {key: earlier.get(key) for key in ("started", "argv", "commit", "changed")}]
        result["steps"] = [row for row in earlier["steps"] if row["label"] not in redone]
        for key in ("flood", "soak"):
            if key in earlier:
                result[key] = earlier[key]
    for devices in counts:
        if args.skip_ramp:
            break
        row = await run_step(args, devices, args.seconds)
        result["steps"].append(row)
        print_table("", COLUMNS, [cell(row)]) if args.verbose else print(json.dumps({k: row[k] for k in (
            "label", "turns", "answered", "lost", "reordered", "jitter_p99_ms", "rss_growth_pct", "server_cpu_pct",
            "gen_cpu_pct", "errors", "pass")}), flush=True)
        save(result)
        if not row["pass"] and args.stop_on_fail:
            break
    passing = [row["devices"] for row in result["steps"] if row["pass"] and row["label"].endswith(" devices")]
    result["largest_passing"] = max(passing, default=None)
    if args.flood:
        devices = args.flood_devices or result["largest_passing"] or counts[0]
        folder = Path(tempfile.mkdtemp(prefix="hoot-school-"))
        try:
            class_id = await fill_store(folder, args.report_devices, args.report_turns)
            base = None if args.no_baseline else await run_step(args, devices, args.flood_seconds, folder, class_id,
                                                                 label=f"{devices} school")
            flooded = await run_step(args, devices, args.flood_seconds, folder, class_id, flood_at=args.flood_at,
                                     label=f"{devices} school+flood")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        result["flood"] = {
            "devices": devices, "store_devices": args.report_devices, "store_turns": args.report_turns,
            "steps": [base and base["label"], flooded["label"]], **flooded["flood"],
            "baseline_latency_p95_ms": base and base["latency_p95_ms"], "preflood_latency_p95_ms": flooded["preflood_latency_p95_ms"],
            "flood_turns": flooded["flood_turns"], "flood_latency_p95_ms": flooded["flood_latency_p95_ms"],
            "flood_latency_max_ms": flooded["flood_latency_max_ms"],
            "latency_p95_delta_ms": None if flooded["flood_latency_p95_ms"] is None or not base
            else round(flooded["flood_latency_p95_ms"] - base["latency_p95_ms"], 1)}
        result["steps"] += [row for row in (base, flooded) if row]
        save(result)
    soak_devices = args.soak_devices or result["largest_passing"]
    if args.soak_seconds and soak_devices:
        row = await run_step(args, soak_devices, args.soak_seconds, label=f"{soak_devices} soak")
        result["steps"].append(row)
        result["soak"] = {"devices": row["devices"], "seconds": row["seconds"], "pass": row["pass"]}
        print(json.dumps({k: row[k] for k in ("label", "turns", "answered", "lost", "reordered", "jitter_p99_ms",
                                               "rss_growth_pct", "server_cpu_pct", "gen_cpu_pct", "errors", "pass")}), flush=True)
        save(result)
    save(result)
    return result


def git_state() -> dict:
    """The commit measured, and the files changed on top of it (the working tree is what runs)."""
    def git(*words: str) -> str:
        try:
            return subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD"), "changed": git("status", "--porcelain", "--untracked-files=no").splitlines()}


def save(result: dict) -> None:
    out = Path(__file__).parent / "results" / "load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


def print_result(result: dict) -> None:
    print_table(f"load: devices at {result['frame_ms']} ms uplink frames, fake engines, server in its own process "
                f"({result['cpus']} CPUs); jitter = |inter-arrival - 40 ms| of paced reply frames, ms",
                COLUMNS, [cell(row) for row in result["steps"]])
    print(f"largest N passing (0 lost/reordered, all answered, jitter p99 <= 20 ms, RSS within 5 %): "
          f"{result['largest_passing']}")
    soak = result.get("soak")
    if soak:
        print(f"one {soak['seconds']:g} s step at {soak['devices']} devices: {'passed' if soak['pass'] else 'FAILED'}")
    f = result.get("flood")
    if f:
        print(f"flood at {f['devices']} devices: {f['logins']} wrong logins in {f['logins_end'] - f['start']:.1f} s "
              f"{f['statuses']}, {f['reports']} class reports of {f.get('report_devices')} devices "
              f"(ms: {f['report_ms'][:5]}...); reply p95 {f['flood_latency_p95_ms']} ms over {f['flood_turns']} turns "
              f"spoken during the flood vs {f['baseline_latency_p95_ms']} ms in the run without it: "
              f"{f['latency_p95_delta_ms']} ms more (target <= 50)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="50,100,200,300", help="comma-separated device counts, one step each")
    parser.add_argument("--seconds", type=float, default=600, help="talking time per step (the issue: 10 minutes)")
    parser.add_argument("--warmup", type=float, default=20, help="seconds of each step before RSS and latency count")
    parser.add_argument("--frame-ms", type=int, default=20, help="uplink frame duration (the firmware sends 40)")
    parser.add_argument("--procs", type=int, default=0, help="generator processes (default: one per --per-proc devices)")
    parser.add_argument("--per-proc", type=int, default=100)
    parser.add_argument("--soak-seconds", type=float, default=0,
                        help="then one step this long at the largest passing N (when the ramp's steps are shorter)")
    parser.add_argument("--soak-devices", type=int, default=0, help="the soak step's N (default: the largest passing)")
    parser.add_argument("--stop-on-fail", action="store_true", help="stop the ramp at the first failing step")
    parser.add_argument("--skip-ramp", action="store_true", help="only the flood steps (needs --flood-devices)")
    parser.add_argument("--flood", action="store_true", help="then the login flood + big report at the largest passing N")
    parser.add_argument("--flood-devices", type=int, default=0)
    parser.add_argument("--flood-seconds", type=float, default=120)
    parser.add_argument("--flood-at", type=float, default=40, help="seconds into the flood step")
    parser.add_argument("--flood-logins", type=int, default=1000)
    parser.add_argument("--flood-concurrency", type=int, default=50)
    parser.add_argument("--report-min-s", type=float, default=0, help="keep fetching reports at least this long")
    parser.add_argument("--no-baseline", action="store_true", help="the flood step only")
    parser.add_argument("--no-reports", action="store_true", help="the flood without the class reports (to tell apart)")
    parser.add_argument("--report-devices", type=int, default=2000)
    parser.add_argument("--report-turns", type=int, default=20)
    parser.add_argument("--merge", action="store_true",
                        help="keep the other steps of bench/results/load.json (redo or add the steps named)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10,20 devices, 30 s, small school")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--profile-server", help="write the server's cProfile stats here (slows the server)")
    parser.add_argument("--role", choices=["server", "devices"], help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "server":
        run_server(json.loads(args.config))
    elif args.role == "devices":
        run_generator(json.loads(args.config))
    else:
        if args.quick:
            args.devices, args.seconds, args.warmup = "10,20", 30, 8
            args.flood_seconds, args.flood_at, args.report_devices, args.report_turns = 30, 12, 200, 5
            args.flood_logins = 200
        print_result(asyncio.run(main(args)))
