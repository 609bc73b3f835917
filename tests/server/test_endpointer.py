"""Endpointing from speech probabilities: speech, pause (speculate), resume, endpoint, too long."""

from hootkit.pipeline.endpointer import ENDPOINT, PAUSE, QUIET, RESUME, SPEECH, TOO_LONG, Endpointer
from hootkit.settings import VadSettings


def run(probs, **config):
    config = {"min_speech_ms": 64, "speculate_ms": 64, "quiet_ms": 320, "silence_ms": 320, **config}
    endpointer = Endpointer(VadSettings(**config), window_ms=32)
    return [(index, event) for index, prob in enumerate(probs) for event in endpointer.push(prob)], endpointer


def test_speech_pause_endpoint():
    events, endpointer = run([0.0] * 3 + [0.9] * 10 + [0.1] * 10)
    assert events == [(4, SPEECH), (14, PAUSE), (22, ENDPOINT)]
    assert endpointer.start_window == 3


def test_a_short_pause_then_more_speech_resumes():
    events, _ = run([0.9] * 5 + [0.1] * 3 + [0.9] * 3 + [0.1] * 10)
    assert [event for _, event in events] == [SPEECH, PAUSE, RESUME, PAUSE, ENDPOINT]


def test_clicks_shorter_than_min_speech_are_ignored():
    events, _ = run([0.9, 0.1] * 10)
    assert events == []


def test_hysteresis_keeps_speech_above_release_threshold():
    events, _ = run([0.9] * 5 + [0.4] * 12 + [0.0] * 10)
    assert events == [(1, SPEECH), (6, PAUSE), (26, ENDPOINT)]  # speculate early, commit late


def test_too_long_fires_on_endless_speech():
    events, _ = run([0.9] * 40, max_utterance_s=1.0)
    assert events == [(1, SPEECH), (33, TOO_LONG)]


def test_endpoint_fires_once_per_silence():
    events, _ = run([0.9] * 5 + [0.0] * 30)
    assert [event for _, event in events].count(ENDPOINT) == 1


def test_reset_forgets_everything():
    _, endpointer = run([0.9] * 5)
    endpointer.reset()
    assert not endpointer.speech_started and endpointer.start_window is None


def test_quiet_comes_after_a_short_silence_and_before_the_endpoint():
    events, endpointer = run([0.9] * 5 + [0.1] * 40, quiet_ms=192, silence_ms=1216)
    assert events == [(1, SPEECH), (6, PAUSE), (10, QUIET), (42, ENDPOINT)]
    assert endpointer.quiet


def test_speech_after_quiet_is_not_quiet_and_a_new_silence_is_judged_again():
    events, endpointer = run([0.9] * 5 + [0.1] * 8 + [0.9] * 3, quiet_ms=192, silence_ms=1216)
    assert [event for _, event in events] == [SPEECH, PAUSE, QUIET, RESUME]
    assert not endpointer.quiet
    more = [event for prob in [0.1] * 7 for event in endpointer.push(prob)]
    assert more == [PAUSE, QUIET]


def test_no_quiet_when_it_is_not_shorter_than_the_endpoint():
    events, _ = run([0.9] * 5 + [0.1] * 20, quiet_ms=320, silence_ms=320)
    assert QUIET not in [event for _, event in events]


def test_a_judged_silence_ends_when_the_judge_asked_not_at_the_longest():
    _, endpointer = run([0.9] * 5 + [0.1] * 10, quiet_ms=192, silence_ms=1216)  # 10 windows: 320 ms of silence
    assert not endpointer.end_after(640)
    later = [(index, event) for index, prob in enumerate([0.1] * 40) for event in endpointer.push(prob)]
    assert later == [(9, ENDPOINT)]  # 20 windows: 640 ms


def test_a_silence_that_already_lasted_long_enough_ends_now():
    _, endpointer = run([0.9] * 5 + [0.1] * 10, quiet_ms=192, silence_ms=1216)
    assert endpointer.end_after(300)


def test_speech_forgets_the_judgement_of_the_silence_before():
    _, endpointer = run([0.9] * 5 + [0.1] * 8, quiet_ms=192, silence_ms=1216)
    endpointer.end_after(400)
    later = [(index, event) for index, prob in enumerate([0.9] * 3 + [0.1] * 40) for event in endpointer.push(prob)]
    assert [event for _, event in later] == [RESUME, PAUSE, QUIET, ENDPOINT]
    assert later[-1] == (3 + 37, ENDPOINT)  # the new silence waits the longest: 38 windows of 32 ms
