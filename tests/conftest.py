"""Shared fixtures: fake-engine servers for fast tests, real-model engines loaded once per run."""

import asyncio
import json
import shutil

import numpy as np
import pytest

from hootkit.app import create_app
from hootkit.engines.fakes import EnergyVad, FakeLlm, FakeStt, FakeTts
from hootkit.engines.registry import Engines
from hootkit.serving import serve_in_loop
from hootkit.settings import Settings

RATE = 16000
# MicroPython test modules: tests/firmware/test_firmware_micropython.py runs them on the unix port
collect_ignore_glob = ["firmware/mpy/*.py"]


def tone(seconds: float, rate: int = RATE, level: float = 0.3) -> np.ndarray:
    """A 300 Hz tone as int16: 'speech' for the energy VAD."""
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * 300 * t) * 32767).astype(np.int16)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.int16)


def fake_engines(llm: FakeLlm | None = None, stt: FakeStt | None = None) -> Engines:
    return Engines(vad=EnergyVad(), stt=stt or FakeStt(), llm=llm or FakeLlm(), tts=FakeTts())


def fast_settings(**overrides) -> Settings:
    values = {"warmup": False, "hello_timeout_s": 5.0}
    values.update(overrides)
    return Settings(**values)


def publish_firmware(build, folder, changes: dict[str, bytes], lie_about: str | None = None):
    """A new firmware version: `build` with some files changed or added; `lie_about` gets a wrong hash."""
    from hootkit.firmware.build import file_entries

    shutil.copytree(build, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for path, data in changes.items():
        (folder / path).write_bytes(data)
    files = file_entries(folder)
    for entry in files:
        if entry["path"] == lie_about:
            entry["sha256"] = "0" * 64
    manifest.update(version=manifest["version"] + ".next", files=files)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return manifest


@pytest.fixture
def serve():
    """Start a server on a free port: `async with serve(engines, settings) as url`."""

    def start(engines: Engines | None = None, settings: Settings | None = None):
        return serve_in_loop(create_app(settings or fast_settings(), engines or fake_engines()))

    return start


@pytest.fixture(scope="session")
def real_engines():
    """The embedded models, loaded and warmed once for the whole test run."""
    from hootkit.engines.registry import load_engines
    from hootkit.pipeline.prompt import Conversation

    engines = load_engines(Settings())
    asyncio.run(engines.warmup(Conversation(0).messages("Hello!")))
    yield engines
    asyncio.run(engines.close())
