"""The test device client's own behaviour: what a timeout tells whoever reads a failed test."""

import pytest

from hootkit.client.device import TurnResult

pytestmark = pytest.mark.timeout(10)


def test_a_timeout_names_what_the_device_heard_with_repeats_counted():
    turn = TurnResult(trace=["stt", "llm", "tts:start", "audio", "audio", "audio", "tts:sentence_start", "audio"])
    assert turn.heard_so_far() == "stt, llm, tts:start, audio x3, tts:sentence_start, audio"


def test_a_timeout_before_anything_came_back_says_so():
    assert TurnResult().heard_so_far() == "nothing"
