"""Knowledge files in, facts or problems out: every problem names the file, the line and the reason. No I/O but reading."""

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from hootkit.lessons.loader import Problem

MAX_BYTES = 512 * 1024
LANGUAGES = ("en", "zh")
FIELDS = ("topic", "fact", "source")
MAX_FACT_CHARS = 300
MAX_FACTS = 2000
_FILE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}\.ya?ml")


@dataclass(frozen=True)
class Fact:
    """One short fact a teacher can check: what it is about, what it says, where it comes from."""

    topic: str
    fact: str
    source: str
    language: str
    origin: str = ""  # file:line, or the lesson it came from


class KnowledgeError(ValueError):
    """A knowledge file that cannot be used; `problems` lists each reason with its line."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


def check_file_name(name: str) -> str:
    """A knowledge file is named like animals.yaml: lowercase ASCII letters, digits and dashes."""
    if not _FILE_NAME.fullmatch(name):
        raise KnowledgeError([Problem(name, 0, "a knowledge file is named like animals.yaml (lowercase letters, digits and dashes)")])
    return name.rpartition(".")[0]


def read_facts(data: bytes, source: str) -> list[Fact]:
    """Check a knowledge file's bytes (an upload, or a file read from disk) and return its facts."""
    if len(data) > MAX_BYTES:
        raise KnowledgeError([Problem(source, 0, f"the file is {len(data) // 1024} KB; a knowledge file is at most {MAX_BYTES // 1024} KB")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KnowledgeError([Problem(source, 0, "the file is not UTF-8 text")]) from None
    try:
        aliases = [event for event in yaml.parse(text, Loader=yaml.SafeLoader) if isinstance(event, yaml.AliasEvent)]
        if aliases:
            line = aliases[0].start_mark.line + 1
            raise KnowledgeError([Problem(source, line, "write each fact out in full: YAML aliases (*name) are not allowed")])
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise KnowledgeError([Problem(source, mark.line + 1 if mark else 0, f"not valid YAML: {error.problem}")]) from None
    if not isinstance(root, yaml.MappingNode):
        raise KnowledgeError([Problem(source, 1, "a knowledge file is a YAML mapping with language: and facts:")])
    return _facts(root, source)


def _facts(root: yaml.MappingNode, source: str) -> list[Fact]:
    problems: list[Problem] = []
    fields = {key.value: (key, value) for key, value in root.value}
    for name, (key, _) in fields.items():
        if name not in ("language", "facts"):
            problems.append(Problem(source, key.start_mark.line + 1, f"{name} is not a knowledge field (use language: and facts:)"))
    language_node = fields.get("language", (None, None))[1]
    language = language_node.value if isinstance(language_node, yaml.ScalarNode) else None
    if language not in LANGUAGES:
        line = language_node.start_mark.line + 1 if language_node is not None else 1
        problems.append(Problem(source, line, f"language must be one of {', '.join(LANGUAGES)}"))
    facts_node = fields.get("facts", (None, None))[1]
    if not isinstance(facts_node, yaml.SequenceNode) or not facts_node.value:
        line = facts_node.start_mark.line + 1 if facts_node is not None else 1
        raise KnowledgeError([*problems, Problem(source, line, "facts: must be a list of facts (topic, fact, source)")])
    if len(facts_node.value) > MAX_FACTS:
        raise KnowledgeError([*problems, Problem(source, facts_node.start_mark.line + 1,
                                                 f"a file holds at most {MAX_FACTS} facts; split it")])
    facts = []
    for index, node in enumerate(facts_node.value, 1):
        fact, found = _fact(node, index, language or "en", source)
        problems += found
        if fact is not None:
            facts.append(fact)
    if problems:
        raise KnowledgeError(sorted(set(problems), key=lambda p: (p.line, p.reason)))
    return facts


def _fact(node: yaml.Node, index: int, language: str, source: str) -> tuple[Fact | None, list[Problem]]:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        return None, [Problem(source, line, f"facts[{index}] must have topic:, fact: and source:")]
    values, problems = {}, []
    for key, value in node.value:
        where = key.start_mark.line + 1
        if key.value not in FIELDS:
            problems.append(Problem(source, where, f"facts[{index}].{key.value} is not a fact field (use {', '.join(FIELDS)})"))
        elif not isinstance(value, yaml.ScalarNode) or not str(value.value).strip():
            problems.append(Problem(source, where, f"facts[{index}].{key.value} must be a line of text"))
        else:
            values[key.value] = " ".join(str(value.value).split())
    for name in FIELDS:
        if name not in values and not any(p.reason.startswith(f"facts[{index}].{name} ") for p in problems):
            problems.append(Problem(source, line, f"facts[{index}].{name} is missing"))
    if len(values.get("fact", "")) > MAX_FACT_CHARS:
        problems.append(Problem(source, line, f"facts[{index}].fact is longer than {MAX_FACT_CHARS} characters: keep a fact short"))
    if problems:
        return None, problems
    return Fact(values["topic"], values["fact"], values["source"], language, f"{source}:{line}"), []


def load_file(path: Path) -> list[Fact]:
    check_file_name(path.name)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KnowledgeError([Problem(str(path), 0, f"cannot read it: {error.strerror or error}")]) from error
    return read_facts(data, str(path))


def load_folders(*folders: Path) -> tuple[list[Fact], list[Problem]]:
    """Every fact of the valid files in these folders (missing folders are skipped), and the problems of the rest."""
    facts, problems = [], []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.y*ml")) if Path(folder).is_dir() else []:
            try:
                facts += load_file(path)
            except KnowledgeError as error:
                problems += error.problems
    return facts, problems


def lesson_facts(lesson) -> list[Fact]:
    """A lesson's own facts (every step's), so free talk after the lesson can still use them."""
    return [
        Fact(lesson.title, " ".join(text.split()), f"lesson {lesson.id}", lesson.language, f"lesson {lesson.id}")
        for step in lesson.steps for text in step.facts if text.strip()
    ]
