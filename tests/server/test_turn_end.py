"""Does a transcript sound finished? Dangling words and trailing-off marks in English and Mandarin."""

import pytest

from hootkit.pipeline.turn_end import sounds_unfinished


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
