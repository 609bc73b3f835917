"""Real Wyoming speech servers from PyPI (`make install` puts them in .venv/speech-servers), on free ports, with
the models Hootkit ships: nothing is downloaded. Test modules import the fixtures."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import need

from hootkit.engines import models

# the speech servers' own venv, beside the one running the tests (they must not share Hootkit's process)
SPEECH_VENV = Path(os.environ.get("HOOT_SPEECH_SERVERS", Path(sys.prefix) / "speech-servers"))
START_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SpeechServer:
    """One Wyoming server process; `kill` it like a crash and `start` it again on the same port."""

    def __init__(self, name: str, args: list[str]):
        self.name = name
        self.port = free_port()
        self.args = [str(SPEECH_VENV / "bin" / name), "--uri", f"tcp://127.0.0.1:{self.port}", *args]
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> "SpeechServer":
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
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


@pytest.fixture(scope="module")
def wyoming_servers(tmp_path_factory):
    """(stt, tts): wyoming-faster-whisper on Whisper tiny.en and wyoming-piper on the joe voice."""
    need((SPEECH_VENV / "bin" / "wyoming-piper").exists(), f"the Wyoming speech servers ({SPEECH_VENV}; make install)")
    folder = tmp_path_factory.mktemp("wyoming")
    stt = SpeechServer("wyoming-faster-whisper", [
        "--model", str(models.whisper_tiny_en()), "--data-dir", str(folder / "stt"), "--local-files-only",
        "--stt-library", "faster-whisper", "--language", "en", "--beam-size", "1", "--cpu-threads", "2",
        "--compute-type", "float32",
    ])
    tts = SpeechServer("wyoming-piper", [
        "--voice", "en_US-joe-medium", "--data-dir", str(models.joe_voice().parent), "--download-dir", str(folder / "tts"),
        "--local-files-only",
    ])
    try:
        yield stt.start(), tts.start()
    finally:
        stt.kill()
        tts.kill()


@pytest.fixture
def servers(wyoming_servers):
    """The module's servers, each running (a test before may have killed one)."""
    for server in wyoming_servers:
        if not server.running:
            server.start()
    return wyoming_servers
