"""An emulator session: build and boot the firmware, act out a script around it, report each turn."""

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import numpy as np
import yaml

import hootproto

from hootkit.client.wavio import WavError, read_wav
from hootkit.emulator.device import DeviceRefused, EmulatedDevice
from hootkit.emulator.proxy import NetworkProxy
from hootkit.firmware.boards import load_board
from hootkit.firmware.build import build_firmware

STEP_NAMES = ("press", "release", "tap", "speak", "wait", "network")
WAIT_FOR = ("reply", "connected", "listening", "speaking", "thinking", "idle", "paused", "update")


class ScriptError(ValueError):
    """A session script that cannot be run: the message says which step and why."""


@dataclass
class Step:
    """One thing that happens around the device."""

    action: str
    arg: str | None = None


@dataclass
class TurnReport:
    """What one spoken question got back, measured at the emulated device."""

    transcript: str | None = None
    sentences: list[str] = field(default_factory=list)
    vtv_ms: float | None = None
    parts: dict[str, float] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    reply_audio_s: float = 0.0
    interrupted: bool = False

    def to_json(self) -> dict:
        return {
            "transcript": self.transcript,
            "reply": " ".join(self.sentences),
            "vtv_ms": self.vtv_ms,
            "parts": self.parts,
            "alerts": self.alerts,
            "reply_audio_s": self.reply_audio_s,
            "interrupted": self.interrupted,
        }


def parse_script(data: object, default_wav: Path | None) -> tuple[str | None, list[Step]]:
    """(mode, steps) from a loaded YAML document: {mode: auto|manual, steps: [press, {speak: file}, ...]}."""
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise ScriptError("a session script is a mapping with a `steps:` list")
    mode = data.get("mode")
    if mode not in (None, "auto", "manual"):
        raise ScriptError(f"mode must be auto or manual, not {mode!r}")
    steps = []
    for number, raw in enumerate(data["steps"], 1):
        action, arg = _split_step(raw)
        if action not in STEP_NAMES:
            raise ScriptError(f"step {number}: {raw!r} is not one of {', '.join(STEP_NAMES)}")
        if action == "speak":
            arg = arg or (str(default_wav) if default_wav else None)
            if arg is None:
                raise ScriptError(f"step {number}: speak needs a file (or give --wav)")
        elif action == "wait" and arg not in WAIT_FOR:
            raise ScriptError(f"step {number}: wait for one of {', '.join(WAIT_FOR)}, not {arg!r}")
        elif action == "network" and arg not in ("up", "down"):
            raise ScriptError(f"step {number}: network is up or down, not {arg!r}")
        steps.append(Step(action, None if arg is None else str(arg)))
    return mode, steps


def _split_step(raw: object) -> tuple[object, object]:
    """`press` -> ("press", None); `{speak: q.wav}` -> ("speak", "q.wav"); anything else -> (None, None)."""
    if isinstance(raw, str):
        return raw, None
    if isinstance(raw, dict) and len(raw) == 1:
        return next(iter(raw.items()))
    return None, None


def load_script(path: Path, default_wav: Path | None) -> tuple[str | None, list[Step]]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ScriptError(f"{path}: {error}") from error
    try:
        mode, steps = parse_script(data, default_wav)
    except ScriptError as error:
        raise ScriptError(f"{path}: {error}") from None
    base = path.parent
    for step in steps:
        if step.action == "speak" and not Path(step.arg).is_absolute() and step.arg != str(default_wav):
            step.arg = str(base / step.arg)
    return mode, steps


def default_steps(mode: str, wav: Path) -> list[Step]:
    if mode == "manual":
        return [Step("press"), Step("speak", str(wav)), Step("release"), Step("wait", "reply")]
    return [Step("speak", str(wav)), Step("wait", "reply")]


class Session:
    """`async with Session(server_url) as session: await session.run(steps)`: one emulated device."""

    def __init__(self, server_url: str, mode: str = "auto", board: str = "diy-s3", heap: str = "1M",
                 token: str | None = None, workdir: Path | None = None, console: Callable[[str], None] | None = None,
                 build: Path | None = None):
        self.server_url = server_url
        self.mode = mode
        self.board = load_board(board)
        self.heap = heap
        self.token = token
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="hoot-emulate-")
        self.workdir = workdir or Path(self._tmp.name)
        self.console = console
        self.build = build
        self.proxy: NetworkProxy | None = None
        self.device: EmulatedDevice | None = None
        self.turns: list[TurnReport] = []
        self._turn_mark = 0
        self._speaker_mark = 0

    async def __aenter__(self) -> "Session":
        target = urlsplit(self.server_url)
        if target.scheme not in ("ws", "wss") or not target.hostname:
            raise ScriptError(f"--server must be a ws:// URL, not {self.server_url!r}")
        path = target.path or hootproto.PATH
        port = target.port or (443 if target.scheme == "wss" else 80)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(target.hostname, port), 10)
            writer.close()
        except (OSError, TimeoutError) as error:
            raise ConnectionError(f"cannot reach the server at {self.server_url} ({error}): is `hoot serve` running?") from None
        self.proxy = NetworkProxy(target.hostname, port)
        proxy_port = await self.proxy.start()
        if self.build is None:
            self.build = (await asyncio.to_thread(build_firmware, self.board.name, self.workdir / "build", "host")).out
        config = {"server": f"ws://127.0.0.1:{proxy_port}{path}", "mode": self.mode, "wifi": {"ssid": "hootkit-emulator", "password": ""}}
        if self.token:
            config["token"] = self.token
        EmulatedDevice.install(self.build, self.workdir / "flash", config)
        self.device = EmulatedDevice(self.workdir / "flash", heap=self.heap, mic_shift=self.board.mic.shift, console=self.console)
        await self.device.start()
        first = await self.device.expect(("connected", "refused"))
        if first["ev"] == "refused":
            raise DeviceRefused(f"the server refused the device ({first['code']}): {first['reason']}")
        return self

    async def __aexit__(self, *exc) -> None:
        if self.device is not None:
            await self.device.stop()
        if self.proxy is not None:
            await self.proxy.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def run(self, steps: list[Step]) -> list[TurnReport]:
        for step in steps:
            await self.step(step)
        return self.turns

    async def step(self, step: Step) -> None:
        device = self.device
        if step.action == "press":
            await device.button(True)
        elif step.action == "release":
            since = device.mark()
            await device.button(False)
            await device.expect("button", since, where=lambda e: e["gesture"] in ("release", "tap"))
        elif step.action == "tap":
            since = device.mark()
            await device.button(True)
            await device.button(False)
            await device.expect("button", since, where=lambda e: e["gesture"] == "tap")
        elif step.action == "speak":
            self.begin_turn()
            await device.say(load_speech(Path(step.arg)))
        elif step.action == "network":
            up = step.arg == "up"
            if up:
                self.proxy.restore()
            else:
                self.proxy.down()
            device.network(up)
            if not up:
                await device.expect("link_down", self._turn_mark)
        elif step.action == "wait":
            await self.wait(step.arg)

    def begin_turn(self) -> None:
        """What happens from now on belongs to a new turn: its report and `wait` look from here."""
        self._turn_mark = self.device.mark()
        self._speaker_mark = self.device.speaker.stat().st_size

    async def ask(self, samples: np.ndarray) -> TurnReport:
        """Say a question near the device and wait for the whole reply, like a child would."""
        self.begin_turn()
        await self.device.say(samples)
        await self.wait("reply")
        return self.turns[-1]

    async def wait(self, what: str) -> None:
        device = self.device
        if what == "reply":
            # the child's question heard, or the server speaking unasked (a lesson's opening, a nudge)
            began = await device.expect(("heard", "state"), self._turn_mark,
                                        where=lambda e: e.get("text") or e.get("state") == "speaking")
            await device.expect("reply_done", began["seq"])
            if began["ev"] == "heard":
                await device.expect("metrics", began["seq"])
            self.turns.append(self.report(self._turn_mark))
        elif what == "connected":
            await device.expect("connected", self._turn_mark)
        elif what == "update":
            await device.expect("update_confirmed", self._turn_mark)
        else:
            await device.expect("state", self._turn_mark, where=lambda e: e["state"] == what)

    def report(self, since: int) -> TurnReport:
        """The turn that started at event index `since`, from the firmware's and the world's events."""
        report = TurnReport()
        voiced_end = reply_audio = None
        for event in self.device.events[since:]:
            kind = event["ev"]
            if kind == "heard" and report.transcript is None:
                report.transcript = event["text"]
            elif kind == "say":
                report.sentences.append(event["text"])
            elif kind == "alert":
                report.alerts.append(event["message"])
            elif kind == "metrics":
                report.parts.update(event["parts"])
            elif kind == "voiced_end" and voiced_end is None:
                voiced_end = event["t_world"]
            elif kind == "reply_audio" and reply_audio is None:
                reply_audio = event["t"]
            elif kind == "play_start" and reply_audio is not None and "device_playout" not in report.parts:
                report.parts["device_playout"] = event["t"] - reply_audio
            elif kind == "abort":
                report.interrupted = True
        if voiced_end is not None and reply_audio is not None:
            report.vtv_ms = float(reply_audio - voiced_end)
            if "server_vtv" in report.parts:
                report.parts["vad_lag_and_network"] = round(report.vtv_ms - report.parts["server_vtv"], 1)
        played = self.device.speaker.stat().st_size - self._speaker_mark
        report.reply_audio_s = round(played / 2 / self.board.speaker.rate, 2)
        return report

    def reply_pcm(self) -> bytes:
        """Everything the emulated speaker played in this session, as PCM16."""
        return self.device.speaker.read_bytes()


def load_speech(path: Path) -> np.ndarray:
    """A WAV file as 16 kHz int16 samples, the way the microphone will hear it."""
    try:
        return read_wav(path)
    except (WavError, OSError) as error:
        raise ScriptError(f"cannot speak {path}: {error}") from error
