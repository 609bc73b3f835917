"""Lesson files: the shipped ones validate; broken ones get file, line and reason; the schema is current."""

import json
from pathlib import Path

import pytest
from conftest import hoot

from hootkit.lessons.loader import LessonError, check_file_name, load_folder, load_lesson
from hootkit.lessons.model import Lesson

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "curriculum" / "lessons").glob("*.yaml"))
GOOD = """\
id: tiny
title: A tiny lesson
language: en
ages: [6, 8]
minutes: 5
persona: Hoot, an AI owl helper.
objectives: [count to three]
topics: [counting]
steps:
  - id: count
    type: quiz
    question: What comes after two?
    answers: ["3"]
    hint: Count on your fingers.
    explain: Three comes after two.
  - id: recap
    type: recap
    say: We counted to three.
closing: Bye for now!
"""


def write(tmp_path: Path, text: str, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str, name: str = "tiny.yaml") -> list[str]:
    with pytest.raises(LessonError) as caught:
        load_lesson(write(tmp_path, text, name))
    return [f"{p.line}: {p.reason}" for p in caught.value.problems]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_lesson_validates(path):
    lesson = load_lesson(path)
    assert lesson.steps[-1].type == "recap"


def test_the_curriculum_is_complete():
    lessons, broken = load_folder(ROOT / "curriculum" / "lessons")
    assert not broken and len(lessons) >= 10
    assert sum(lesson.language == "zh" for lesson in lessons.values()) >= 2
    assert {"what-is-ai", "is-it-true"} <= set(lessons)


def test_a_good_lesson_loads(tmp_path):
    assert load_lesson(write(tmp_path, GOOD)).steps[0].answers == ["3"]


def test_malformed_yaml_names_the_line(tmp_path):
    assert problems(tmp_path, GOOD.replace("topics: [counting]", "topics: [counting")) [0].startswith("9: not valid YAML")


def test_unknown_step_type(tmp_path):
    assert problems(tmp_path, GOOD.replace("type: recap", "type: dance")) == [
        "17: steps[2]: unknown step type 'dance' (use explain, ask, quiz, story, free_talk, recap)"]


def test_missing_fields(tmp_path):
    found = problems(tmp_path, GOOD.replace("    hint: Count on your fingers.\n", "").replace("minutes: 5\n", ""))
    assert "1: minutes is missing" in found and "9: steps[1].hint is missing" in found


def test_duplicate_step_ids(tmp_path):
    assert problems(tmp_path, GOOD.replace("id: recap", "id: count")) == ["16: two steps have the id 'count' (the first is step 1)"]


def test_a_typo_and_a_key_written_twice(tmp_path):
    found = problems(tmp_path, GOOD.replace("minutes: 5", "minutes: 5\ntitel: oops\nminutes: 6"))
    assert "6: titel is not a lesson field (a typo?)" in found and "7: minutes is written twice" in found


def test_id_must_match_the_file_name(tmp_path):
    assert problems(tmp_path, GOOD, "other.yaml") == ["1: id must be 'other', the file's name"]


def test_a_5_mb_file_is_refused_without_being_read(tmp_path):
    big = GOOD + "# " + "x" * (5 * 1024 * 1024) + "\n"
    assert problems(tmp_path, big) == ["0: the file is 5.0 MB; a lesson is at most 256 KB"]


@pytest.mark.parametrize("name", ["../tiny.yaml", "lessons/tiny.yaml", ".hidden.yaml", "Tiny Lesson.yaml", "tiny.txt"])
def test_file_names_with_folders_or_odd_characters_are_refused(name):
    with pytest.raises(LessonError, match="lesson file"):
        check_file_name(name)


def test_schema_json_is_generated_from_the_model():
    committed = json.loads((ROOT / "curriculum" / "schema.json").read_text())
    assert committed == Lesson.model_json_schema(), "run: hoot lesson schema > curriculum/schema.json"



async def test_hoot_lesson_validate_and_list(tmp_path):
    good = write(tmp_path, GOOD)
    bad = write(tmp_path, GOOD.replace("id: tiny", "id: broken").replace("type: recap", "type: dance"), "broken.yaml")
    code, out, err = await hoot("lesson", "validate", str(good), str(bad))
    assert code == 1 and f"ok  {good}" in out and f"{bad}:17: steps[2]: unknown step type 'dance'" in err
    code, out, err = await hoot("lesson", "list", "--dir", str(ROOT / "curriculum" / "lessons"))
    assert code == 0 and "what-is-ai" in out, err
