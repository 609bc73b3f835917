"""The knowledge base files: the shipped ones validate; a broken fact is reported with file, line and reason."""

from pathlib import Path

import pytest

from hootkit.knowledge.facts import KnowledgeError, lesson_facts, load_folders, read_facts
from hootkit.lessons.loader import load_folder

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "curriculum" / "knowledge"

GOOD = """\
language: en
facts:
  - topic: spiders
    fact: Spiders have eight legs.
    source: Britannica Kids, "Spider"
"""


def test_the_shipped_knowledge_base_is_valid_and_big_enough():
    facts, problems = load_folders(KNOWLEDGE)
    assert problems == []
    english = [fact for fact in facts if fact.language == "en"]
    mandarin = [fact for fact in facts if fact.language == "zh"]
    assert len(english) >= 800 and len(mandarin) >= 200
    assert all(fact.topic and fact.source for fact in facts)
    texts = [fact.fact for fact in facts]
    assert len(set(texts)) == len(texts)


def test_a_good_file_gives_facts_with_their_origin():
    [fact] = read_facts(GOOD.encode(), "mine.yaml")
    assert (fact.topic, fact.fact, fact.language, fact.origin) == ("spiders", "Spiders have eight legs.", "en", "mine.yaml:3")


@pytest.mark.parametrize(
    "text, line, reason",
    [
        (GOOD.replace("    source: Britannica Kids, \"Spider\"\n", ""), 3, "facts[1].source is missing"),
        (GOOD.replace("topic:", "topik:"), 3, "facts[1].topik is not a fact field"),
        (GOOD.replace("language: en", "language: fr"), 1, "language must be one of en, zh"),
        (GOOD.replace("fact: Spiders have eight legs.", "fact: [eight, legs]"), 4, "facts[1].fact must be a line of text"),
        (GOOD + "  - topic: oops\n    fact: : :\n", 7, "not valid YAML"),
        ("language: en\nfacts: []\n", 2, "facts: must be a list of facts"),
        (GOOD.replace("language: en", "language: en\nsubject: x"), 2, "subject is not a knowledge field"),
    ],
)
def test_a_broken_fact_is_reported_with_file_line_and_reason(text, line, reason):
    with pytest.raises(KnowledgeError) as caught:
        read_facts(text.encode(), "broken.yaml")
    assert any(p.source == "broken.yaml" and p.line == line and reason in p.reason for p in caught.value.problems), caught.value


def test_a_broken_file_is_skipped_and_reported_while_the_good_ones_load(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe not text")
    facts, problems = load_folders(tmp_path, tmp_path / "missing")
    assert [fact.topic for fact in facts] == ["spiders"]
    assert [(Path(p.source).name, p.reason) for p in problems] == [("bad.yaml", "the file is not UTF-8 text")]


def test_lessons_add_their_own_facts():
    lessons, _ = load_folder(ROOT / "curriculum" / "lessons")
    facts = [fact for lesson in lessons.values() for fact in lesson_facts(lesson)]
    assert facts and {fact.language for fact in facts} == {"en", "zh"}
    assert all(fact.source.startswith("lesson ") for fact in facts)
