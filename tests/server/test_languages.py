"""Per-language speech engines: defaults for English, others built once on first use, failures retried."""

import asyncio
import threading

import pytest

from hootkit.engines.fakes import FakeStt, FakeTts
from hootkit.engines.languages import Builders, Languages
from hootkit.engines.voices import VoiceMissing
from hootkit.settings import Settings

VOICE = "zh_CN-huayan-medium"


class Counting:
    """Fake builders that record what they built; `fail` makes the next tts build raise."""

    def __init__(self):
        self.stt_built: list[str] = []
        self.tts_built: list[str] = []
        self.fail = False
        self.started = threading.Event()
        self.release: threading.Event | None = None

    def stt(self, language):
        self.started.set()
        if self.release is not None:
            self.release.wait()
        self.stt_built.append(language)
        return FakeStt("你好")

    def tts(self, voice):
        if self.fail:
            self.fail = False
            raise VoiceMissing(f"piper voice {voice} is missing; this machine seems to be offline")
        self.tts_built.append(voice)
        return FakeTts()

    def languages(self, settings=None):
        self.defaults = FakeStt(), FakeTts()
        return Languages(settings or Settings(stt={"language": "en"}), *self.defaults, builders=Builders(self.stt, self.tts))


async def test_the_server_language_gets_the_default_engines():
    fake = Counting()
    languages = fake.languages()
    assert await languages.get("en") == fake.defaults
    assert await languages.get("en", "embedded") == fake.defaults
    assert await languages.get("en", "en_US-joe-medium") == fake.defaults
    assert fake.stt_built == fake.tts_built == []


async def test_another_language_is_built_once_for_concurrent_sessions():
    fake = Counting()
    languages = fake.languages()
    first, second = await asyncio.gather(languages.get("zh", VOICE), languages.get("zh", VOICE))
    assert first == second and first[0] is not fake.defaults[0] and first[1] is not fake.defaults[1]
    assert fake.stt_built == ["zh"] and fake.tts_built == [VOICE]
    assert await languages.get("zh", VOICE) == first
    stt, tts = await languages.get("zh")
    assert stt is first[0] and tts is fake.defaults[1]


async def test_an_english_lesson_can_speak_with_another_voice():
    fake = Counting()
    languages = fake.languages()
    stt, _ = await languages.get("en", "en_GB-alba-medium")
    assert stt is fake.defaults[0] and fake.tts_built == ["en_GB-alba-medium"] and fake.stt_built == []


async def test_a_failed_load_is_not_cached():
    fake = Counting()
    languages = fake.languages()
    fake.fail = True
    with pytest.raises(VoiceMissing, match="offline"):
        await languages.get("zh", VOICE)
    stt, tts = await languages.get("zh", VOICE)
    assert fake.stt_built == ["zh"] and fake.tts_built == [VOICE]


async def test_english_sessions_do_not_wait_while_another_language_loads():
    fake = Counting()
    fake.release = threading.Event()
    languages = fake.languages()
    loading = asyncio.create_task(languages.get("zh", VOICE))
    await asyncio.to_thread(fake.started.wait)
    assert await languages.get("en") == fake.defaults
    fake.release.set()
    await loading
    assert fake.stt_built == ["zh"]


async def test_close_closes_only_what_it_loaded():
    closed = []

    class Closing(FakeTts):
        def close(self):
            closed.append(self)

    default = Closing()
    built = Closing()
    languages = Languages(Settings(), FakeStt(), default, builders=Builders(lambda _: FakeStt(), lambda _: built))
    await languages.get("zh", VOICE)
    languages.close()
    assert closed == [built]


async def test_a_server_that_guesses_the_language_hears_its_languages_lessons_with_its_own_model():
    default_stt = FakeStt()
    languages = Languages(Settings(stt={"language": "auto", "languages": ["en", "zh"]}), default_stt, FakeTts())
    assert (await languages.get("zh"))[0] is default_stt and (await languages.get("en"))[0] is default_stt
