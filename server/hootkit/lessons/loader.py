"""Lesson files in, Lesson objects or problems out: every problem names the file, the line and the reason."""

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from hootkit.lessons.model import STEP_TYPES, Lesson, slug_ok

MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a lesson file."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}" if self.line else f"{self.source}: {self.reason}"


class LessonError(ValueError):
    """A lesson that cannot be used; `problems` lists each reason with its line."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


def check_file_name(name: str) -> str:
    """The lesson id a file name stands for; refuses paths, odd characters and other extensions."""
    if "/" in name or "\\" in name or name.startswith("."):
        raise LessonError([Problem(name, 0, "a lesson file name cannot contain a folder or start with a dot")])
    stem, dot, extension = name.rpartition(".")
    if not dot or extension not in ("yaml", "yml") or not slug_ok(stem):
        reason = "a lesson file is named like my-lesson.yaml (lowercase letters, digits and dashes)"
        raise LessonError([Problem(name, 0, reason)])
    return stem


def load_lesson(path: Path) -> Lesson:
    """Read and check one lesson file."""
    expected_id = check_file_name(path.name)
    try:
        _check_size(str(path), path.stat().st_size)  # before reading: a huge file is never loaded
        data = path.read_bytes()
    except OSError as error:
        raise LessonError([Problem(str(path), 0, f"cannot read it: {error.strerror or error}")]) from error
    return read_lesson(data, str(path), expected_id)


def read_lesson(data: bytes, source: str, expected_id: str | None = None) -> Lesson:
    """Check a lesson file's bytes (an upload, or a file read from disk)."""
    _check_size(source, len(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LessonError([Problem(source, 0, "the file is not UTF-8 text")]) from None
    return parse_lesson(text, source, expected_id)


def _check_size(source: str, size: int) -> None:
    if size > MAX_BYTES:
        reason = f"the file is {size / 1024 / 1024:.1f} MB; a lesson is at most {MAX_BYTES // 1024} KB"
        raise LessonError([Problem(source, 0, reason)])


def parse_lesson(text: str, source: str, expected_id: str | None = None) -> Lesson:
    """Check lesson YAML text; `expected_id` is the id its file name demands."""
    if len(text.encode()) > MAX_BYTES:
        raise LessonError([Problem(source, 0, f"a lesson is at most {MAX_BYTES // 1024} KB")])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise LessonError([Problem(source, mark.line + 1 if mark else 0, f"not valid YAML: {error.problem}")]) from None
    if not isinstance(data, dict):
        raise LessonError([Problem(source, 1, "a lesson is a YAML mapping (title:, language:, steps:, ...)")])
    lines: dict[tuple, int] = {}
    problems = _walk(root, (), lines, source)
    problems += _duplicate_step_ids(data, lines, source)
    if expected_id is not None and data.get("id") != expected_id:
        problems.append(Problem(source, lines.get(("id",), 1), f"id must be {expected_id!r}, the file's name"))
    try:
        lesson = Lesson.model_validate(data)
    except ValidationError as error:
        problems += [_problem(item, lines, source) for item in error.errors() if "two steps have the id" not in item["msg"]]
    if problems:
        raise LessonError(sorted(set(problems), key=lambda p: (p.line, p.reason)))
    return lesson


def _walk(node: yaml.Node, path: tuple, lines: dict[tuple, int], source: str) -> list[Problem]:
    """Record the line of every value by its path; report keys written twice (YAML keeps only the last)."""
    lines[path] = node.start_mark.line + 1
    problems = []
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            name = key.value
            if name in seen:
                problems.append(Problem(source, key.start_mark.line + 1, f"{_dotted(path + (name,))} is written twice"))
            seen.add(name)
            problems += _walk(value, path + (name,), lines, source)
            lines[path + (name,)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _walk(item, path + (index,), lines, source)
    return problems


def _duplicate_step_ids(data: dict, lines: dict[tuple, int], source: str) -> list[Problem]:
    problems, seen = [], {}
    steps = data.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        step_id = step.get("id") if isinstance(step, dict) else None
        if isinstance(step_id, str):
            if step_id in seen:
                reason = f"two steps have the id {step_id!r} (the first is step {seen[step_id] + 1})"
                problems.append(Problem(source, lines.get(("steps", index, "id"), 0), reason))
            seen.setdefault(step_id, index)
    return problems


def _problem(item: dict, lines: dict[tuple, int], source: str) -> Problem:
    loc = _without_step_tags(item["loc"])
    if item["type"] == "union_tag_invalid":
        loc += ("type",)
    line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), 0)
    if item["type"] == "union_tag_invalid":
        loc = loc[:-1]
        reason = f"{_dotted(loc)}: unknown step type {item['ctx']['tag']!r} (use {', '.join(STEP_TYPES)})"
    elif item["type"] == "union_tag_not_found":
        reason = f"{_dotted(loc)}: a step needs a type ({', '.join(STEP_TYPES)})"
    elif item["type"] == "missing":
        reason = f"{_dotted(loc)} is missing"
    elif item["type"] == "extra_forbidden":
        reason = f"{_dotted(loc)} is not a lesson field (a typo?)"
    else:
        reason = f"{_dotted(loc)}: {item['msg']}"
    return Problem(source, line, reason)


def _without_step_tags(loc: tuple) -> tuple:
    """pydantic puts the step type (the union's tag) into the location, steps.2.quiz.hint; drop it."""
    kept = []
    for part in loc:
        if not (kept and isinstance(kept[-1], int) and part in STEP_TYPES):
            kept.append(part)
    return tuple(kept)


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the lesson"


def load_folder(folder: Path) -> tuple[dict[str, Lesson], list[Problem]]:
    """Every valid lesson in a folder by id, and the problems of the ones that are not."""
    lessons, problems = {}, []
    for path in sorted(folder.glob("*.y*ml")):
        try:
            lesson = load_lesson(path)
        except LessonError as error:
            problems += error.problems
        else:
            lessons[lesson.id] = lesson
    return lessons, problems
