"""Does a transcript sound finished? Dangling words and trailing-off marks in English and Mandarin, then the turn-words model."""

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
@pytest.mark.parametrize("words, finished", [(Words(0.9), True), (Words(0.2), False), (Words(None), False)])
async def test_the_turn_words_model_must_read_the_words_as_finished(words, finished):
    """Below its threshold the turn waits; a model that fails leaves the turn to the longest silence."""
    judge = TurnEndJudge(words=words, words_threshold=0.5)
    text = "how many legs does a spider have"
    try:
        assert await judge.finished(text, judge.read(text, "device"), None) is finished
    finally:
        judge.close()
