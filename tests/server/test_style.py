"""Reply style in code: the answer first and short, no lists, markdown or emoji, never a person."""

import numpy as np
import pytest
from conftest import fake_engines, silence, tone

from hootkit.client.device import DeviceClient
from hootkit.engines.fakes import FakeLlm
from hootkit.pipeline.clauses import ClauseSplitter
from hootkit.pipeline.style import ReplyStyle

QUESTION = np.concatenate([silence(0.2), tone(0.6)])

pytestmark = pytest.mark.timeout(60)


def styled(text: str, **limits) -> list[str]:
    style, spoken = ReplyStyle(**limits), []
    splitter = ClauseSplitter()
    for clause in splitter.push(text) + splitter.flush():
        admitted = style.admit(clause)
        if admitted is None:
            break
        if admitted:
            spoken.append(admitted)
    return spoken


def test_a_rambling_reply_stops_after_two_sentences():
    spoken = styled("Spiders have eight legs. They spin webs. They eat flies. They live everywhere. They are great.")
    assert spoken == ["Spiders have eight legs.", "They spin webs."]


def test_one_short_question_back_may_follow_the_answer():
    spoken = styled("Spiders have eight legs. They spin silk webs. Can you count them? And another thing.")
    assert spoken == ["Spiders have eight legs.", "They spin silk webs.", "Can you count them?"]


def test_the_word_budget_ends_a_long_reply_at_a_clause():
    long = "Spiders are small animals with eight legs that live in gardens, houses, forests and caves all over the world. "
    spoken = styled(long + "Some of them are very big and hairy and live in warm places near the equator.")
    assert sum(len(clause.split()) for clause in spoken) <= 30


def test_a_list_is_not_read_out():
    assert styled("Spiders have eight legs.\n1. They spin webs.\n2. They eat flies.\n") == ["Spiders have eight legs."]
    assert styled("- Spiders have eight legs.\n- They spin webs.\n") == ["Spiders have eight legs."]


def test_claims_to_be_a_person_are_dropped():
    spoken = styled("I'm a real boy and I have a family. Spiders have eight legs. I feel sad when you go.")
    assert spoken == ["Spiders have eight legs."]
    assert styled("我是一个小女孩。蜘蛛有八条腿。") == ["蜘蛛有八条腿。"]
    assert styled("我是人工智能，不是人。") == ["我是人工智能，", "不是人。"]


def test_saying_it_is_not_a_person_is_kept():
    assert styled("No, I'm not a person. I'm an AI, a computer program.") == ["No, I'm not a person.", "I'm an AI, a computer program."]


def test_chinese_replies_are_limited_too():
    spoken = styled("蜘蛛有八条腿。它们会织网。它们吃小虫子。它们到处都有。")
    assert spoken == ["蜘蛛有八条腿。", "它们会织网。"]


async def test_the_server_speaks_the_styled_reply_of_a_rambling_listing_person_playing_model(serve):
    llm = FakeLlm(["**Great", " question!** 🕷️", " I have", " a body", " too.", " Spiders have", " eight legs.\n",
                   "1. They", " spin webs.\n", "2. They eat", " flies.\n", "3. They", " are cool."])
    async with serve(fake_engines(llm=llm)) as url, DeviceClient(url) as client:
        result = await client.ask(QUESTION)
    assert result.reply == "Spiders have eight legs."  # the clause with "I have a body" went, markdown and emoji with it
    assert llm.closed == 1  # the stream was closed as soon as the reply ended
