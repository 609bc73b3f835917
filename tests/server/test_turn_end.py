"""Does a transcript sound finished, and how sure is that? Dangling words and trailing-off marks in English and Mandarin, then the turn-words model."""

import numpy as np
import pytest

from hootkit.pipeline.turn_end import TurnEndJudge, sounds_unfinished


@pytest.mark.parametrize("text", [
    "How many legs does a", "I think it's because", "Is the sun a star or", "What is the", "um",
    "How many legs...", "Why is the sky -", "", "我觉得是因为", "月亮和", "嗯，那个", "植物晚上，",
])
def test_dangling_transcripts_sound_unfinished(text):
    assert sounds_unfinished(text)


@pytest.mark.parametrize("text", [
    "How many legs does a spider have?", "What are they made of?", "Yes I can", "I like that",
    "Are you a robot", "Where do they come from", "蜘蛛有几条腿？", "天空是蓝色的", "是不是", "What is that?",
])
def test_finished_transcripts_do_not(text):
    assert not sounds_unfinished(text)


class Words:
    """A turn-words model that gives one probability, or fails."""

    def __init__(self, probability: float | None):
        self.value = probability

    def probability(self, text: str) -> float:
        if self.value is None:
            raise RuntimeError("encoder gone")
        return self.value


@pytest.mark.timeout(10)
@pytest.mark.parametrize("words, doubt", [(Words(0.95), 0.0), (Words(0.9), 0.0), (Words(0.7), 0.5), (Words(0.5), 1.0),
                                          (Words(0.2), 1.0), (Words(None), 1.0)])
async def test_the_less_sure_the_turn_words_model_the_longer_the_wait(words, doubt):
    """At or above `words_sure` the turn is answered at once; below the threshold it waits the longest;
    in between in proportion. A model that fails leaves the turn to the longest silence."""
    judge = TurnEndJudge(words=words, words_threshold=0.5, words_sure=0.9)
    text = "how many legs does a spider have"
    try:
        assert await judge.doubt(text, judge.read(text, "device"), None) == pytest.approx(doubt)
    finally:
        judge.close()


@pytest.mark.timeout(10)
async def test_dangling_words_and_a_doubting_voice_wait_the_longest():
    class Voice:
        def probability(self, pcm):
            return 0.2

    judge = TurnEndJudge(Voice(), threshold=0.5, words=Words(0.95), words_threshold=0.5, words_sure=0.9)
    try:
        assert await judge.doubt("how many legs does a", None, None) == 1.0
        text = "how many legs does a spider have"
        assert await judge.doubt(text, judge.read(text, "device"), judge.score(np.zeros(1600, np.float32), "device")) == 1.0
    finally:
        judge.close()


@pytest.mark.parametrize("sure", [0.6, 0.2])
def test_sure_at_or_below_the_threshold_means_no_graded_wait(sure):
    judge = TurnEndJudge(words_threshold=0.6, words_sure=sure)
    assert [judge.words_doubt(p) for p in (0.59, 0.6, 0.61, 0.99)] == [1.0, 0.0, 0.0, 0.0]


@pytest.mark.timeout(10)
async def test_a_model_that_answers_nan_is_not_sure():
    class Voice:
        def __init__(self, value):
            self.value = value

        def probability(self, pcm):
            return self.value

    text = "how many legs does a spider have"
    for voice, words in ((Voice(float("nan")), Words(0.95)), (Voice(0.9), Words(float("nan")))):
        judge = TurnEndJudge(voice, threshold=0.5, words=words, words_threshold=0.5, words_sure=0.9)
        try:
            score = judge.score(np.zeros(1600, np.float32), "device")
            assert await judge.doubt(text, judge.read(text, "device"), score) == 1.0
        finally:
            judge.close()
