"""What Whisper repeats (a restarted sentence, the earlier text it was given) is cut; real second questions stay."""

import pytest

from hootkit.engines.whisper import ZH_LEAD, drop_echo, drop_lead


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


@pytest.mark.parametrize("heard, kept", [
    ("以下是普通话的句子。", ""),  # heard in the development set for the half of a Mandarin question before a pause
    ("以下是普通话的句子", ""),
    ("以下是普通话的句子？", ""),
    ("以下是普通話的句子。", ""),  # in traditional characters
    ("以下是普通话的句子。蜘蛛有几条腿？", "蜘蛛有几条腿？"),
    ("蜘蛛有几条腿？", "蜘蛛有几条腿？"),
    ("以下是三个例子。", "以下是三个例子。"),  # a child may say "以下是" themselves
])
def test_the_mandarin_lead_written_out_again_is_dropped(heard, kept):
    assert drop_lead(heard, ZH_LEAD) == kept


def test_without_a_lead_nothing_is_dropped():
    assert drop_lead("Why is the sky blue?", "") == "Why is the sky blue?"
