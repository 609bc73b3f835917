"""The test device client's own behaviour: what a timeout tells whoever reads a failed test, and when an answer was
settled."""

import pytest

from hootkit.client.device import TurnResult

pytestmark = pytest.mark.timeout(10)


def test_a_timeout_names_what_the_device_heard_with_repeats_counted():
    turn = TurnResult(trace=["stt", "llm", "tts:start", "audio", "audio", "audio", "tts:sentence_start", "audio"])
    assert turn.heard_so_far() == "stt, llm, tts:start, audio x3, tts:sentence_start, audio"


def test_a_timeout_before_anything_came_back_says_so():
    assert TurnResult().heard_so_far() == "nothing"


def test_the_answer_was_settled_when_the_server_committed_not_when_it_began_to_speak():
    # the reply's first frame came 1.5 s after the child's last word; the server spent 1.2 s of that after committing
    turn = TurnResult(spoke_until=10.0, heard_at=11.5, first_audio_at=11.5, parts={"server_vtv": 1600.0, "endpoint_wait": 400.0})
    assert turn.committed_at == pytest.approx(10.3) and not turn.cut_off
    turn.parts["endpoint_wait"] = 50.0  # committed 1.55 s before the reply's first frame: before the child finished
    assert turn.cut_off


def test_without_the_server_s_timings_the_answer_was_settled_when_it_said_what_it_heard():
    assert TurnResult(spoke_until=10.0, heard_at=9.8).cut_off
    assert not TurnResult(spoke_until=10.0, heard_at=10.2).cut_off
    assert not TurnResult().cut_off
