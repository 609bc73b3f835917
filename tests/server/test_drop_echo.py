"""Whisper's habit of restarting a sentence it already said is cut off; real second questions stay."""

import pytest

from hootkit.engines.whisper import drop_echo


@pytest.mark.parametrize("heard, kept", [
    ("Are you real? Are you", "Are you real?"),
    ("Why does your tummy make noises? Why does your tummy make", "Why does your tummy make noises?"),
    ("Why is it big? Why is it bi", "Why is it big?"),
    ("Is it big? Is it red?", "Is it big? Is it red?"),
    ("What is a noun? What is a verb?", "What is a noun? What is a verb?"),
    ("How many legs does a spider have?", "How many legs does a spider have?"),
    ("Hello. How are you?", "Hello. How are you?"),
    ("", ""),
])
def test_a_restart_of_an_earlier_sentence_is_dropped(heard, kept):
    assert drop_echo(heard) == kept
