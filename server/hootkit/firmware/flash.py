"""`hoot flash` as a plan (get MicroPython, esptool writes it, mpremote copies the app) and its runner."""

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from tqdm import tqdm

from hootkit.firmware.signing import PUBLIC_KEY_FILE

IMAGE_CACHE = Path.home() / ".cache" / "hootkit" / "images"
BAUD = 460800
PORT_WAIT_S = 15.0
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Where each chip's MicroPython image starts (micropython.org/download lists the same offsets).
IMAGE_OFFSETS = {"esp32": "0x1000", "esp32s2": "0x1000", "esp32s3": "0x0", "esp32c3": "0x0", "esp32c6": "0x0"}
SERIAL_PORT = re.compile(
    r"/dev/(tty|cu)[\w.-]+|/dev/serial/by-(id|path)/[^/\s]+|/dev/pts/\d+|(\\\\\.\\)?COM\d+", re.IGNORECASE
)
PORT_EXAMPLES = "/dev/ttyACM0, /dev/ttyUSB0, /dev/cu.usbmodem1101 or COM3"
LIST_PORTS = "python -m serial.tools.list_ports"


class FlashError(Exception):
    """A flashing step cannot go on; the message says why and what to do."""


class ImageError(FlashError):
    """The MicroPython image could not be downloaded or is not the one the board file names."""


class BoardLike(Protocol):
    name: str
    chip: str
    micropython_image: str
    micropython_sha256: str


@dataclass
class Step:
    """One flashing step: what it does in words, and the command it runs (None for in-process steps)."""

    title: str
    argv: list[str] | None
    action: Callable[[], object] | None = field(default=None, repr=False, compare=False)
    details: list[str] = field(default_factory=list)


def check_port_name(port: str) -> None:
    if not SERIAL_PORT.fullmatch(port):
        raise ValueError(
            f"{port!r} does not look like a serial port (expected e.g. {PORT_EXAMPLES}); "
            f"list the ports with: {LIST_PORTS}"
        )


def port_present(port: str) -> bool:
    # Windows COM ports are not files; esptool reports a missing one itself.
    return os.name == "nt" or os.path.exists(port)


def check_port_present(port: str) -> None:
    if not port_present(port):
        raise FlashError(f"no device at {port}: is it plugged in? (ls /dev/ttyACM* /dev/ttyUSB*)")


def wait_for_port(
    port: str,
    timeout_s: float = PORT_WAIT_S,
    present: Callable[[str], bool] = port_present,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once the port is back (a board on native USB leaves and rejoins the bus when it resets)."""
    deadline = clock() + timeout_s
    while not present(port):
        if clock() >= deadline:
            raise FlashError(
                f"the board did not come back on {port} within {timeout_s:g} s of flashing MicroPython; "
                f"replug it, check the port with: {LIST_PORTS}, and run hoot flash again"
            )
        sleep(0.25)


def image_cache_path(url: str, cache_dir: Path = IMAGE_CACHE) -> Path:
    name = PurePosixPath(urlsplit(url).path).name
    if not name:
        raise ImageError(f"cannot tell the image's file name from {url}; pass --image PATH")
    return cache_dir / name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_image(
    url: str, cache_dir: Path, sha256: str | None, progress: bool = True, out: Callable[[str], None] = print
) -> Path:
    """The image at `url`, downloaded once into `cache_dir` and checked against `sha256` when one is given."""
    target = image_cache_path(url, cache_dir)
    expected = (sha256 or "").strip().lower() or None
    unverified = f"WARNING: no sha256 is known for {url}, so the image could not be verified"
    if target.exists():
        if expected is None:
            out(f"using the cached {target}; {unverified}")
            return target
        if sha256_of(target) == expected:
            out(f"using the cached {target} (sha256 verified)")
            return target
        out(f"the cached {target} does not match its sha256; downloading it again")
        target.unlink()
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        actual = _download(url, partial, progress)
        if expected is not None and actual != expected:
            raise ImageError(
                f"{url} downloaded with sha256 {actual}, but the board file expects {expected}: "
                "the download is damaged or the board file is out of date; deleted it"
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    out(f"downloaded {target} (sha256 verified)" if expected else f"downloaded {target}; {unverified}")
    return target


def _download(url: str, destination: Path, progress: bool) -> str:
    digest = hashlib.sha256()
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=DOWNLOAD_TIMEOUT) as reply:
            reply.raise_for_status()
            size = int(reply.headers.get("content-length", 0)) or None
            with destination.open("wb") as file, tqdm(
                total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=destination.stem,
                disable=not progress,
            ) as bar:
                for chunk in reply.iter_bytes():
                    file.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except httpx.HTTPStatusError as error:
        status = error.response
        raise ImageError(
            f"cannot download {url}: HTTP {status.status_code} {status.reason_phrase}; pass --image PATH "
            "to flash an image you already have"
        ) from None
    except httpx.HTTPError as error:
        reason = str(error) or type(error).__name__
        raise ImageError(
            f"cannot download {url} ({reason}); pass --image PATH to flash an image you already have"
        ) from None
    return digest.hexdigest()


def device_config(
    ssid: str | None, password: str | None, server: str, token: str | None, mode: str = "auto"
) -> dict:
    """The config.json the firmware reads at boot (see firmware/hoot/config.py for what it accepts)."""
    if not server.startswith(("ws://", "wss://")):
        raise ValueError(f"the server must be a ws:// or wss:// URL (ws://HOST:8765/v1/device): {server!r}")
    if mode not in ("auto", "manual"):
        raise ValueError(f"mode must be auto or manual, not {mode!r}")
    config: dict = {}
    if ssid is not None:
        config["wifi"] = {"ssid": ssid, "password": password or ""}
    config["server"] = server
    if token:
        config["token"] = token
    config["mode"] = mode
    return config


def write_device_config(
    path: Path, ssid: str | None, password: str | None, server: str, token: str | None, mode: str = "auto"
) -> Path:
    path.write_text(json.dumps(device_config(ssid, password, server, token, mode), indent=2) + "\n")
    return path


def app_files(build_dir: Path) -> list[str]:
    """Every file under the compiled app folder, relative to it, in a stable order."""
    return sorted(path.relative_to(build_dir).as_posix() for path in build_dir.rglob("*") if path.is_file())


def check_app(build_dir: Path, config_path: Path | None) -> None:
    if not (build_dir / "main.py").is_file():
        raise FlashError(f"no compiled app in {build_dir} (no main.py): run `hoot firmware build` first")
    if not (build_dir / PUBLIC_KEY_FILE).is_file():
        raise FlashError(f"no {PUBLIC_KEY_FILE} in {build_dir}: the device could never accept a signed update;"
                         " rebuild it with `hoot firmware build`")
    if config_path is not None and not config_path.is_file():
        raise FlashError(f"no device config at {config_path}")


def check_image(image: Path) -> None:
    if not image.is_file():
        raise ImageError(f"no MicroPython image at {image}")


def image_offset(chip: str) -> str:
    chip_name = chip.lower().replace("-", "")
    if chip_name not in IMAGE_OFFSETS:
        known = ", ".join(IMAGE_OFFSETS)
        raise ValueError(f"hoot flash does not know where MicroPython goes on a {chip} (it knows {known})")
    return IMAGE_OFFSETS[chip_name]


def plan_flash(
    port: str,
    board: BoardLike,
    build_dir: Path,
    config_path: Path | None,
    image: Path | None,
    image_url: str | None = None,
    cache_dir: Path = IMAGE_CACHE,
    progress: bool = True,
) -> list[Step]:
    """The steps that put MicroPython, the compiled app and the config on the board at `port`.

    With no `config_path` no config is copied: the device then asks for Wi-Fi and server on its serial
    console at first boot.
    With no `image`, the first steps download `image_url` (or the board's own image) into `cache_dir`;
    only the board's own image is checked against the board's sha256.
    """
    check_port_name(port)
    chip = board.chip.lower().replace("-", "")
    offset = image_offset(chip)
    esptool = [sys.executable, "-m", "esptool", "--chip", chip, "--port", port]
    mpremote = [sys.executable, "-m", "mpremote", "connect", port]
    steps = [
        Step(f"check that a board is plugged in at {port}", None, lambda: check_port_present(port)),
        Step(f"check the compiled app in {build_dir}" + (f" and the config {config_path}" if config_path else ""),
             None, lambda: check_app(build_dir, config_path)),
    ]
    if image is None:
        url = image_url or board.micropython_image
        sha256 = board.micropython_sha256 if url == board.micropython_image else None
        image = image_cache_path(url, cache_dir)
        check = f"sha256 {sha256}" if sha256 else "no sha256 known: it will NOT be verified"
        steps.append(
            Step(
                f"get the MicroPython image for {board.name} into {image}",
                None,
                lambda: fetch_image(url, cache_dir, sha256, progress),
                [f"from {url} ({check})"],
            )
        )
    else:
        steps.append(Step(f"check the MicroPython image {image}", None, lambda: check_image(image)))
    write = [*esptool, "--baud", str(BAUD), "write-flash", offset, str(image)]
    steps += [
        Step(f"erase the whole flash of the {chip}", [*esptool, "erase-flash"]),
        Step(f"write MicroPython at {offset}", write),
        Step(f"wait for the board to restart on {port}", None, lambda: wait_for_port(port)),
    ]
    if build_dir.is_dir():
        # ":." (the device's working folder, its root at boot) exists on every port, so mpremote copies each
        # folder into it under its own name; a missing target would make it copy a folder's contents instead.
        entries = [str(build_dir / name) for name in sorted(os.listdir(build_dir))]
        steps.append(
            Step(f"copy the compiled app from {build_dir}", [*mpremote, "fs", "cp", "-r", *entries, ":."],
                 details=app_files(build_dir))
        )
    else:
        missing = f"copy the compiled app from {build_dir} (not built yet: run `hoot firmware build`)"
        steps.append(Step(missing, None))
    if config_path is not None:
        steps.append(Step("copy the device config", [*mpremote, "fs", "cp", str(config_path), ":config.json"]))
    else:
        steps.append(Step("no device config: the device asks for Wi-Fi and server on its serial console", None))
    steps.append(Step("restart the board into Hootkit", [*mpremote, "reset"]))
    return steps


def run_plan(steps: Iterable[Step], dry_run: bool, out: Callable[[str], None] = print) -> int:
    """Print each step and, unless `dry_run`, run it; stop at the first failure. Returns an exit code."""
    steps = list(steps)
    for number, step in enumerate(steps, 1):
        out(f"[{number}/{len(steps)}] {step.title}")
        if step.argv is not None:
            out(f"    $ {shlex.join(step.argv)}")
        for detail in step.details:
            out(f"      {detail}")
        if dry_run:
            continue
        failure = _run_step(step)
        if failure:
            code, reason = failure
            out(f"hoot flash stopped at step {number}/{len(steps)} ({step.title}): {reason}")
            return code
    out("dry run: nothing was run" if dry_run else "flashed: the board is restarting into Hootkit")
    return 0


def _run_step(step: Step) -> tuple[int, str] | None:
    if step.argv is not None:
        code = subprocess.run(step.argv, check=False).returncode
        return (code, f"the command exited with {code}") if code else None
    if step.action is None:
        return None
    try:
        step.action()
    except (FlashError, OSError) as error:
        return 1, str(error)
    return None
