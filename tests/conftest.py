"""Shared fixtures: fake-engine servers for fast tests, real-model engines loaded once per run."""

import asyncio
import json
import os
import re
import shutil
import sys
from pathlib import Path

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


def need(condition, reason: str) -> None:
    """Go on with a test only where a part it drives is here (chromium, PostgreSQL, espeak-ng, MicroPython).

    Missing, the test is skipped on a developer's machine, but fails where CI=true: .ci/run installs every part
    first, so a missing part there is a broken install that a skip would hide.
    """
    if condition:
        return
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason} (CI=true: .ci/run should have installed it)", pytrace=False)
    pytest.skip(reason)


def tone(seconds: float, rate: int = RATE, level: float = 0.3) -> np.ndarray:
    """A 300 Hz tone as int16: 'speech' for the energy VAD."""
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * 300 * t) * 32767).astype(np.int16)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.int16)


NUMBER_WORDS = dict(enumerate("zero one two three four five six seven eight nine ten eleven twelve".split()))
LITTLE_WORDS = {"a", "an", "the", "this", "that"}


def content_words(text: str) -> set[str]:
    """The words of `text` that hearing it back must find: numbers spelt out, articles left out (Whisper writes
    "8" for "eight" and hears "a spider" as "this spider")."""
    found = re.findall(r"[a-z0-9']+", text.lower())
    return {NUMBER_WORDS.get(int(w), w) if w.isdigit() else w for w in found} - LITTLE_WORDS


def heard_most(said: str, heard: str) -> bool:
    """Whether at least half of what was said came back when its audio was transcribed."""
    said_words = content_words(said)
    return bool(said_words) and len(said_words & content_words(heard)) >= len(said_words) / 2


# A small lesson for running-lesson tests: a quiz ("8"), an open question with facts, a recap.
QUIZ_LESSON = """\
id: legs
title: Legs
language: en
ages: [6, 9]
minutes: 5
persona: Hoot, a friendly AI owl helper.
objectives: [Count legs]
topics: [spiders, legs]
steps:
  - id: spider-legs
    type: quiz
    question: How many legs does a spider have?
    answers: ["8"]
    hint: Count two hands of four fingers.
    explain: A spider has eight legs.
    praise: Yes, eight legs!
  - id: why
    type: ask
    question: Why do you think spiders spin webs?
    expect: [food, eat]
    facts: [Spiders spin webs to catch food.]
  - id: recap
    type: recap
    say: Spiders have eight legs and spin webs.
closing: Thank you for learning with me!
"""


async def hoot(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    """Run the `hoot` command in a child process: (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hootkit.cli", *args, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    return process.returncode, out.decode(), err.decode()


def fake_engines(llm: FakeLlm | None = None, stt: FakeStt | None = None) -> Engines:
    return Engines(vad=EnergyVad(), stt=stt or FakeStt(), llm=llm or FakeLlm(), tts=FakeTts())


def fast_settings(**overrides) -> Settings:
    values = {"warmup": False, "hello_timeout_s": 5.0}
    values.update(overrides)
    return Settings(**values)


def build_host_app(folder: Path):
    """The firmware compiled for the emulator into `folder`/app, signed with a key of its own in `folder`."""
    from hootkit.firmware.build import build_firmware
    from hootkit.firmware.signing import KEY_FILE

    return build_firmware("diy-s3", folder / "app", arch="host", key_file=folder / KEY_FILE).out


def publish_firmware(build, folder, changes: dict[str, bytes], lie_about: str | None = None,
                     key_file: Path | None = None, **manifest_changes):
    """A new firmware version: `build` with some files changed or added; `lie_about` gets a wrong hash. It is
    signed with the build's own key, or with `key_file`'s; `manifest_changes` are set in the manifest."""
    from hootkit.firmware.build import file_entries
    from hootkit.firmware.signing import KEY_FILE, load_or_create_key, sign_folder

    shutil.copytree(build, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for path, data in changes.items():
        (folder / path).write_bytes(data)
    files = file_entries(folder)
    for entry in files:
        if entry["path"] == lie_about:
            entry["sha256"] = "0" * 64
    manifest.update(version=manifest["version"] + ".next", files=files, **manifest_changes)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    sign_folder(folder, load_or_create_key(key_file or build.parent / KEY_FILE))
    return manifest


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Each test gets its own data folder (the classroom store, voices), also for `hoot` child processes."""
    folder = tmp_path / "data"
    monkeypatch.setenv("HOOT_DATA_DIR", str(folder))
    return folder


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


def edited_json(change):
    """A damage for a JSON model file: parse it, `change(spec)` in place, write it back."""
    def damage(text: str) -> str:
        spec = json.loads(text)
        change(spec)
        return json.dumps(spec)
    return damage
