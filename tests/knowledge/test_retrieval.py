"""Retrieval with the real multilingual sentence encoder: a paraphrased question finds its fact."""

import pytest

from hootkit.knowledge.facts import Fact
from hootkit.knowledge.index import KnowledgeIndex
from hootkit.safety.semantic import SentenceEncoder

pytestmark = [pytest.mark.models, pytest.mark.timeout(120)]

FACTS = [
    Fact("spiders", "Spiders have eight legs. Insects have six legs.", "Britannica Kids", "en"),
    Fact("sky colour", "The sky looks blue because air scatters blue sunlight the most.", "NASA Space Place", "en"),
    Fact("octopus", "An octopus has three hearts and blue blood.", "National Geographic Kids", "en"),
    Fact("moon", "The Moon does not make its own light; it reflects sunlight.", "NASA Space Place", "en"),
    Fact("蜘蛛", "蜘蛛有8条腿。", "中国大百科全书", "zh"),
    Fact("月亮", "月亮自己不会发光，它反射太阳的光。", "十万个为什么", "zh"),
]


@pytest.fixture(scope="module")
def index():
    knowledge = KnowledgeIndex(SentenceEncoder())
    knowledge.set_group("test", FACTS)
    return knowledge


@pytest.mark.parametrize(
    "question, topic",
    [
        ("how many feet has a spider got", "spiders"),
        ("why is it blue up there in the daytime", "sky colour"),
        ("is it true octopuses have more than one heart", "octopus"),
        ("does the moon shine by itself", "moon"),
        ("蜘蛛有几只脚", "蜘蛛"),
        ("月亮为什么会亮", "月亮"),
    ],
)
def test_a_paraphrased_question_finds_its_fact(index, question, topic):
    found = index.search(question)
    assert found and found[0][0].topic == topic


def test_an_unrelated_question_finds_nothing(index):
    assert index.search("what is my cat called") == []


def test_a_group_can_be_replaced_and_removed(index):
    index.set_group("teacher", [Fact("class pet", "Our class hamster is called Biscuit.", "Ms Lee", "en")])
    assert index.search("what is the name of our class hamster")[0][0].topic == "class pet"
    index.set_group("teacher", [])
    assert all(fact.topic != "class pet" for fact, _ in index.search("what is the name of our class hamster"))
