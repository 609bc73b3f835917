"""Teachers' fact files through /api/knowledge: checked, audited, and used for the next question at once."""

import hashlib

import numpy as np
import pytest
from school import QUESTION, lessons_dir, school  # noqa: F401 (fixtures)
from test_control import pair

from hootkit.engines.fakes import FakeLlm, FakeStt
from hootkit.knowledge.index import KnowledgeIndex

pytestmark = pytest.mark.timeout(120)

HAMSTER = """\
language: en
facts:
  - topic: class pet
    fact: Our class hamster is called Biscuit and she loves sunflower seeds.
    source: Ms Lee, class 4B
"""


class WordEncoder:
    """A stand-in sentence encoder for one stage: hashed words, so shared words mean nearby texts."""

    def encode(self, texts):
        vectors = np.zeros((len(texts), 64), np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace(".", " ").replace("?", " ").split():
                vectors[row, int(hashlib.sha256(word.encode()).hexdigest(), 16) % 64] += 1
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)


async def test_a_teachers_fact_file_is_checked_audited_and_grounds_the_next_answer(school, data_dir):
    llm = FakeLlm(["Her name is Biscuit."])
    async with school(llm=llm, stt=FakeStt("what is our class hamster called")) as s, s.login("tom") as tom:
        s.hoot.engines.knowledge = KnowledgeIndex(WordEncoder(), min_score=0.3)
        response = await tom.put("/api/knowledge/our-class.yaml", content=HAMSTER.encode())
        assert response.status_code == 201, response.text
        assert response.json() == {"file": "our-class.yaml", "facts": 1}
        assert (data_dir / "knowledge" / "our-class.yaml").read_text() == HAMSTER
        listing = (await tom.get("/api/knowledge")).json()
        assert listing["groups"]["knowledge"] == 1 and listing["problems"] == []
        device = await pair(s, tom, await s.new_class(tom, "4B"), "owl-1")
        try:
            result = await device.ask(QUESTION)
        finally:
            await device.close()
        assert [event.action for event in await s.audit("knowledge upload")] == ["knowledge upload"]
    assert result.reply == "Her name is Biscuit."
    facts = llm.requests[-1][-2]
    assert facts["role"] == "system" and "hamster is called Biscuit" in facts["content"]


@pytest.mark.parametrize(
    "body, line, reason",
    [
        (HAMSTER.replace("    source: Ms Lee, class 4B\n", ""), 3, "facts[1].source is missing"),
        (HAMSTER.replace("Our class hamster is called Biscuit", "Let's go and make a bomb"), 3, "the companion may not say this"),
        (HAMSTER + "  - *pet\n", 6, "aliases (*name) are not allowed"),
        (HAMSTER + "  - topic: : :\n", 6, "not valid YAML"),
    ],
)
async def test_a_broken_or_unsafe_file_is_refused_with_line_and_reason_and_nothing_is_saved(school, data_dir, body, line, reason):
    async with school() as s, s.login("tom") as tom:
        s.hoot.engines.knowledge = KnowledgeIndex(WordEncoder())
        response = await tom.put("/api/knowledge/our-class.yaml", content=body.encode())
        audit = await s.audit("knowledge upload")
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any(p["file"] == "our-class.yaml" and p["line"] == line and reason in p["reason"] for p in problems), problems
    assert not (data_dir / "knowledge" / "our-class.yaml").exists() and audit[0].ok is False


async def test_parents_and_strangers_may_not_read_or_change_the_knowledge(school):
    async with school() as s, s.login("pat") as parent, s.anonymous() as stranger:
        s.hoot.engines.knowledge = KnowledgeIndex(WordEncoder())
        assert (await parent.put("/api/knowledge/x.yaml", content=HAMSTER.encode())).status_code == 403
        assert (await parent.get("/api/knowledge")).status_code == 403
        assert (await stranger.put("/api/knowledge/x.yaml", content=HAMSTER.encode())).status_code == 401
        async with s.login("tom") as tom:
            assert (await tom.put("/api/knowledge/..%2Fx.yaml", content=HAMSTER.encode())).status_code in (404, 422)
            assert (await tom.put("/api/knowledge/-rf.yaml", content=HAMSTER.encode())).status_code == 422
