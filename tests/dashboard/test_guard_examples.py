"""Teachers' guard examples through /api/guard/examples: who may add which label, audited, used at once."""

import pytest
from school import school, lessons_dir  # noqa: F401 (fixtures)
from test_knowledge_api import WordEncoder

from hootkit.safety.examples import TeacherExamples
from hootkit.safety.head import GuardHead, Reading
from hootkit.safety.semantic import SemanticGuard

pytestmark = pytest.mark.timeout(120)

PET_QUESTION = "can we feed the class hamster chocolate"


class AllowingHead:
    """A head that lets every text through (the unit under test is the teachers' memory)."""

    classes = GuardHead().classes

    def read(self, embeddings):
        return [Reading(0.0, "violence", 0.5, False) for _ in embeddings]


def guarded(s, data_dir) -> SemanticGuard:
    encoder = WordEncoder()
    examples = TeacherExamples(data_dir / "guard_examples.jsonl", encoder.encode)
    guard = SemanticGuard(head=AllowingHead(), encoder=encoder, examples=examples)
    s.hoot.engines.guards = [guard]
    return guard


async def test_a_teachers_category_example_blocks_at_once_and_is_audited(school, data_dir):
    async with school() as s, s.login("tom") as tom:
        guard = guarded(s, data_dir)
        assert await guard.check(PET_QUESTION, "input") is None
        added = await tom.post("/api/guard/examples", json={"text": PET_QUESTION, "label": "unsafe_advice"})
        assert added.status_code == 201, added.text
        assert (await guard.check(PET_QUESTION, "input")).category == "unsafe_advice"
        listing = (await tom.get("/api/guard/examples")).json()
        assert [(e["text"], e["label"], e["added_by"]) for e in listing["examples"]] == [(PET_QUESTION, "unsafe_advice", "tom")]
        assert "benign" in listing["labels"]
        removed = await tom.delete("/api/guard/examples", params={"text": PET_QUESTION})
        assert removed.status_code == 200 and await guard.check(PET_QUESTION, "input") is None
        assert (await tom.delete("/api/guard/examples", params={"text": PET_QUESTION})).status_code == 404
        actions = [event.action for event in await s.audit() if event.action.startswith("guard example")]
    assert sorted(actions) == ["guard example", "guard example removed"]


async def test_only_an_admin_may_mark_a_text_harmless(school, data_dir):
    async with school() as s, s.login("tom") as tom, s.login("ada") as ada:
        guarded(s, data_dir)
        refused = await tom.post("/api/guard/examples", json={"text": "what is a gun dog", "label": "benign"})
        assert refused.status_code == 403
        assert (await ada.post("/api/guard/examples", json={"text": "what is a gun dog", "label": "benign"})).status_code == 201


async def test_a_teacher_may_not_change_or_remove_someone_elses_example(school, data_dir):
    async with school() as s, s.login("tom") as tom, s.login("tina") as tina, s.login("ada") as ada:
        guarded(s, data_dir)
        assert (await tom.post("/api/guard/examples", json={"text": PET_QUESTION, "label": "unsafe_advice"})).status_code == 201
        assert (await tina.post("/api/guard/examples", json={"text": PET_QUESTION, "label": "scary"})).status_code == 403
        assert (await tina.delete("/api/guard/examples", params={"text": PET_QUESTION})).status_code == 403
        assert [e["label"] for e in (await tina.get("/api/guard/examples")).json()["examples"]] == ["unsafe_advice"]
        assert (await ada.delete("/api/guard/examples", params={"text": PET_QUESTION})).status_code == 200


@pytest.mark.parametrize("body", [
    {"text": "hello", "label": "no_such_category"},
    {"text": "", "label": "scary"},
    {"text": "x" * 301, "label": "scary"},
    {"label": "scary"},
])
async def test_a_bad_example_is_refused_and_nothing_is_kept(school, data_dir, body):
    async with school() as s, s.login("tom") as tom:
        guarded(s, data_dir)
        assert (await tom.post("/api/guard/examples", json=body)).status_code == 422
        assert (await tom.get("/api/guard/examples")).json()["examples"] == []


async def test_parents_and_strangers_may_not_read_or_change_the_examples(school, data_dir):
    async with school() as s, s.login("pat") as parent, s.anonymous() as stranger:
        guarded(s, data_dir)
        for client in (parent, stranger):
            assert (await client.get("/api/guard/examples")).status_code in (401, 403)
            assert (await client.post("/api/guard/examples", json={"text": "hi", "label": "scary"})).status_code in (401, 403)
            assert (await client.delete("/api/guard/examples", params={"text": "hi"})).status_code in (401, 403)


async def test_without_the_semantic_guard_the_api_says_so(school):
    async with school() as s, s.login("tom") as tom:
        s.hoot.engines.guards = []
        response = await tom.get("/api/guard/examples")
    assert response.status_code == 503 and "without the semantic guard" in response.json()["detail"]
