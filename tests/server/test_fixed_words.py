"""Fixed words kept in memory: the least recently said go first, but the apology (said when the TTS is down) stays."""

import gc
import weakref

import numpy as np
import pytest

from hootkit.pipeline.fixed_words import FixedWords, pin_later, pinned

pytestmark = pytest.mark.timeout(10)


class Voice:
    """Any object stands for a TTS engine (kept by weak reference)."""


def audio() -> list[np.ndarray]:
    return [np.zeros(160, np.int16)]


def test_the_least_recently_said_go_first_but_pinned_words_stay():
    words, voice = FixedWords(size=3), Voice()
    words.keep(voice, "Sorry, my thinking part is not working right now.", audio(), pinned=True)
    words.keep(voice, "Hello!", audio())
    for n in range(10):  # a lesson's lines and worked sums push everything older out
        words.keep(voice, f"Line {n}.", audio())
    assert words.get(voice, "Hello!") is None
    assert words.get(voice, "Line 9.") is not None
    assert words.get(voice, "Sorry, my thinking part is not working right now.") is not None
    assert words.get(Voice(), "Sorry, my thinking part is not working right now.") is None  # per voice


class BrokenVoice:
    """A voice that cannot say anything."""

    sample_rate = 22050

    async def synthesize(self, text, key):
        raise RuntimeError("the voice is down")
        yield


async def test_words_pinned_in_the_background_are_tried_once_and_a_failed_voice_is_not_kept_alive():
    voice = BrokenVoice()
    task = pin_later(voice, "Sorry, my thinking part is not working right now.")
    assert await task is False and not pinned(task)
    assert pin_later(voice, "Sorry, my thinking part is not working right now.") is task  # not again at once
    gone = weakref.ref(voice)
    del voice, task
    gc.collect()
    assert gone() is None
