"""What a turn does with its answer: say fixed words, let the LLM reply, or report lesson progress."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hootkit.lessons.engine import LessonRun


@dataclass
class Say:
    """Speak these words as written."""

    text: str


@dataclass
class Generate:
    """Ask the LLM with these messages and speak its reply (through the output guard)."""

    messages: list[dict]


@dataclass
class Progress:
    """Lesson progress for the device and the teacher: `state` is start, step or end."""

    state: str
    step: int
    steps: int
    title: str
    step_id: str | None = None
    correct: bool | None = None


Action = Say | Generate | Progress


@dataclass
class Plan:
    """A turn's answer in order; in a lesson, the run it was tried on (`lesson`, a copy of `base`)."""

    actions: list[Action]
    lesson: "LessonRun | None" = field(default=None)
    base: "LessonRun | None" = field(default=None)
