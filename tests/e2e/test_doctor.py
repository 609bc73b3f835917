"""`hoot doctor` with the real models: every check passes and says what it found."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.models


def test_doctor_reports_every_model_working():
    run = subprocess.run([sys.executable, "-m", "hootkit.cli", "doctor"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "speech round trip" in run.stdout and "spider" in run.stdout.lower()
    assert "llm answers" in run.stdout and ", 0 failed" in run.stdout
