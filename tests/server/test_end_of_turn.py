"""Smart Turn v3 from its package: pinned, refused when damaged or missing, hears a finished question."""

import hashlib
import importlib.util
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from hootkit.client.speech import piper_speech
from hootkit.engines import models
from hootkit.engines.end_of_turn import (
    SMART_TURN_FILE,
    SMART_TURN_HINT,
    SMART_TURN_SHA256,
    WINDOW,
    EndOfTurnModel,
    packaged_model,
)

pytestmark = pytest.mark.timeout(60)

REINSTALL = re.escape(f"{SMART_TURN_HINT} --force-reinstall")


@pytest.fixture(scope="module")
def model():
    return EndOfTurnModel(packaged_model())


def test_the_packaged_model_is_the_pinned_file_and_scores_in_zero_to_one(model):
    path = packaged_model()
    assert path.name == SMART_TURN_FILE
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SMART_TURN_SHA256
    tone = (0.3 * np.sin(2 * np.pi * 300 * np.arange(16000) / 16000)).astype(np.float32)
    assert 0.0 <= model.probability(tone) <= 1.0
    assert 0.0 <= model.probability(np.zeros(0, np.float32)) <= 1.0


def test_features_cover_the_last_8_seconds_padded_with_silence_at_the_start():
    rng = np.random.default_rng(0)
    short = (rng.standard_normal(16000) * 0.1).astype(np.float32)
    padded = np.concatenate([np.zeros(WINDOW - len(short), np.float32), short])
    assert EndOfTurnModel.features(short).shape == (80, 800)
    np.testing.assert_array_equal(EndOfTurnModel.features(short), EndOfTurnModel.features(padded))
    longer = np.concatenate([np.ones(5 * 16000, np.float32), padded])
    np.testing.assert_array_equal(EndOfTurnModel.features(longer), EndOfTurnModel.features(padded))


def test_worker_threads_get_the_same_answer(model):
    pcm = (np.random.default_rng(1).standard_normal(2 * 16000) * 0.1).astype(np.float32)
    alone = model.probability(pcm)
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(model.probability, [pcm] * 4)) == [alone] * 4


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_packaged_file_is_refused_with_what_to_do(tmp_path, damage):
    data = bytearray(packaged_model().read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF  # the weights: onnxruntime alone would load this silently
    else:
        del data[len(data) // 2 :]
    damaged = tmp_path / SMART_TURN_FILE
    damaged.write_bytes(bytes(data))
    pinned = rf"{re.escape(str(damaged))} has sha256 [0-9a-f]{{64}}, not the pinned {SMART_TURN_SHA256}"
    with pytest.raises(models.ModelMissing, match=rf"{pinned}: it is damaged .*; reinstall it: {REINSTALL}"):
        EndOfTurnModel(damaged)


def test_a_broken_file_of_another_name_cannot_load(tmp_path):
    broken = tmp_path / "my-fine-tune.onnx"
    broken.write_bytes(packaged_model().read_bytes()[:4096])
    with pytest.raises(models.ModelMissing, match=rf"{re.escape(str(broken))} cannot be loaded.*replace it"):
        EndOfTurnModel(broken)


def test_a_missing_file_says_what_to_do(tmp_path):
    missing = tmp_path / SMART_TURN_FILE
    expected = rf"{re.escape(str(missing))} is missing; reinstall it: {REINSTALL}"
    with pytest.raises(models.ModelMissing, match=expected):
        EndOfTurnModel(missing)


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    find_spec = importlib.util.find_spec
    hidden = lambda name, *rest: None if name == "pipecat" else find_spec(name, *rest)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", hidden)
    with pytest.raises(models.ModelMissing, match=re.escape(SMART_TURN_HINT)):
        packaged_model()


def steady_speech(text: str) -> np.ndarray:
    return piper_speech(text, steady=True)  # the same prosody on every run


@pytest.mark.models
@pytest.mark.timeout(180)
def test_a_finished_question_scores_higher_than_one_cut_off(model):
    # the server asks right after the speech (the turn's audio ends a window after the last voiced one)
    pad = np.zeros(512, np.float32)
    finished = model.probability(np.concatenate([steady_speech("How many legs does a spider have?"), pad]))
    cut_off = model.probability(np.concatenate([steady_speech("How many legs does a"), pad]))
    assert finished >= 0.5 > cut_off, (finished, cut_off)
