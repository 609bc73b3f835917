"""Real speech servers from PyPI, on free ports, with the models Hootkit ships: nothing is downloaded. Wyoming's
(`make install` puts them in .venv/speech-servers) and OpenAI-compatible ones (.venv/openai-speech). Test modules
import the fixtures."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import need

from hootkit.engines import models

# the speech servers' own venv, beside the one running the tests (they must not share Hootkit's process)
SPEECH_VENV = Path(os.environ.get("HOOT_SPEECH_SERVERS", Path(sys.prefix) / "speech-servers"))
OPENAI_VENV = Path(os.environ.get("HOOT_OPENAI_SPEECH_SERVERS", Path(sys.prefix) / "openai-speech"))
START_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SpeechServer:
    """One speech server process, listening where `url` says ("{port}" in it and in `args` is its free port);
    `kill` it like a crash and `start` it again on the same port."""

    def __init__(self, command: Path, args: list[str], url: str = "tcp://127.0.0.1:{port}", env: dict | None = None):
        self.name = command.name
        self.port = free_port()
        self.args = [str(command), *(arg.replace("{port}", str(self.port)) for arg in args)]
        self.url = url.replace("{port}", str(self.port))
        self.env = env or {}
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> "SpeechServer":
        env = {**os.environ, "HF_HUB_OFFLINE": "1", **self.env}
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_S
        # the servers log "Ready" before they bind their port, so only an accepted connection says they listen
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        self.log.seek(0)
        pytest.fail(f"{self.name} did not start within {START_S:g} s:\n{self.log.read().decode(errors='replace')[-2000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crash: connections in flight are reset."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def wyoming_pair(folder: Path) -> tuple[SpeechServer, SpeechServer]:
    """(stt, tts), not started: wyoming-faster-whisper on Whisper tiny.en (as in-process) and wyoming-piper on the
    joe voice, keeping their files under `folder`."""
    stt = SpeechServer(SPEECH_VENV / "bin" / "wyoming-faster-whisper", [
        "--uri", "tcp://127.0.0.1:{port}", "--model", str(models.whisper_tiny_en()), "--data-dir", str(folder / "stt"),
        "--local-files-only", "--stt-library", "faster-whisper", "--language", "en", "--beam-size", "1",
        "--cpu-threads", "2", "--compute-type", "float32",
    ])
    tts = SpeechServer(SPEECH_VENV / "bin" / "wyoming-piper", [
        "--uri", "tcp://127.0.0.1:{port}", "--voice", "en_US-joe-medium", "--data-dir", str(models.joe_voice().parent),
        "--download-dir", str(folder / "tts"), "--local-files-only",
    ])
    return stt, tts


def openai_pair(folder: Path) -> tuple[SpeechServer, SpeechServer]:
    """(stt, tts), not started: faster-whisper-server on Whisper tiny.en (float32, beam 1, 2 threads: as in-process)
    at /v1/audio/transcriptions, and local-tts-studio on piper's joe voice at /v1/audio/speech."""
    folder.mkdir(parents=True, exist_ok=True)
    stt_config = folder / "stt.yaml"  # JSON is YAML
    stt_config.write_text(json.dumps({"models": [{
        "name": "whisper-1", "path": str(models.whisper_tiny_en()),
        "model_options": {"device": "cpu", "compute_type": "float32", "cpu_threads": 2},
        "transcribe_options": {"beam_size": 1}}]}))
    voices = folder / "tts" / "voices"  # a folder of its own: the server tidies its voices folder at start
    voices.mkdir(parents=True)
    for path in (models.joe_voice(), models.joe_voice().with_suffix(".onnx.json")):
        (voices / path.name).symlink_to(path)
    (folder / "tts" / "settings.json").write_text(json.dumps(
        {"voices_dir": str(voices), "device": "cpu", "api_default_voice": models.joe_voice().stem}))
    stt = SpeechServer(OPENAI_VENV / "bin" / "faster-whisper-server",
                       ["--config", str(stt_config), "--host", "127.0.0.1", "--port", "{port}"], "http://127.0.0.1:{port}/v1")
    tts = SpeechServer(OPENAI_VENV / "bin" / "local-tts", ["--host", "127.0.0.1", "--port", "{port}"],
                       "http://127.0.0.1:{port}/v1", env={"LOCAL_TTS_DATA_DIR": str(folder / "tts")})
    return stt, tts


@contextmanager
def started(pair: tuple[SpeechServer, SpeechServer]):
    """`with started(wyoming_pair(folder)) as (stt, tts):` both running, killed after."""
    try:
        yield tuple(server.start() for server in pair)
    finally:
        for server in pair:
            server.kill()


@pytest.fixture(scope="module")
def wyoming_servers(tmp_path_factory):
    need((SPEECH_VENV / "bin" / "wyoming-piper").exists(), f"the Wyoming speech servers ({SPEECH_VENV}; make install)")
    with started(wyoming_pair(tmp_path_factory.mktemp("wyoming"))) as servers:
        yield servers


@pytest.fixture(scope="module")
def openai_servers(tmp_path_factory):
    need((OPENAI_VENV / "bin" / "local-tts").exists(), f"the OpenAI-compatible speech servers ({OPENAI_VENV}; make install)")
    with started(openai_pair(tmp_path_factory.mktemp("openai"))) as servers:
        yield servers


def running(servers: tuple[SpeechServer, ...]) -> tuple[SpeechServer, ...]:
    """The module's servers, each running (a test before may have killed one)."""
    for server in servers:
        if not server.running:
            server.start()
    return servers


@pytest.fixture
def servers(wyoming_servers):
    return running(wyoming_servers)


@pytest.fixture
def openai(openai_servers):
    return running(openai_servers)
