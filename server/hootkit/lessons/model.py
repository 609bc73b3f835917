"""The lesson format as pydantic models; curriculum/schema.json is generated from them. No I/O."""

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Spoken = Annotated[str, Field(min_length=1, max_length=400, description="Said aloud: one to three short sentences.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _as_text(values: object) -> object:
    """Numbers become text ("8"); yes/no/true/false, which YAML reads as booleans, need quotes."""
    if not isinstance(values, list):
        return values
    if any(isinstance(value, bool) for value in values):
        raise ValueError('put quotes around yes, no, true and false ("no"): YAML reads them as true/false')
    return [str(value) if isinstance(value, (int, float)) else value for value in values]


class _Step(_Strict):
    id: str = Field(pattern=SLUG, description="Unique inside the lesson.")
    facts: list[str] = Field(default_factory=list, description="What the companion may state in this step.")


class Explain(_Step):
    """The companion says `say` as written."""

    type: Literal["explain"]
    say: Spoken


class Ask(_Step):
    """An open question, judged loosely: an answer counts if it mentions one of `expect` (any real answer without)."""

    type: Literal["ask"]
    question: Spoken
    expect: list[str] = Field(default_factory=list)

    _expect_as_text = field_validator("expect", mode="before")(lambda values: _as_text(values))


class Quiz(_Step):
    """Accepted answers checked deterministically; a hint after a wrong answer; `explain` when attempts run out."""

    type: Literal["quiz"]
    question: Spoken
    answers: list[str] = Field(min_length=1)
    synonyms: list[str] = Field(default_factory=list)
    hint: Spoken
    attempts: int = Field(default=2, ge=1, le=5)
    explain: Spoken
    praise: Spoken | None = None

    _answers_as_text = field_validator("answers", "synonyms", mode="before")(lambda values: _as_text(values))

    @field_validator("answers", "synonyms")
    @classmethod
    def _no_blank_answers(cls, values: list[str]) -> list[str]:
        if any(not value.strip() for value in values):
            raise ValueError("an answer cannot be empty")
        return values


class Story(_Step):
    """The companion and the child build a story together, one idea each, for `turns` child turns."""

    type: Literal["story"]
    prompt: Spoken
    turns: int = Field(default=3, ge=1, le=10)


class FreeTalk(_Step):
    """Open conversation inside the lesson's topics, for `turns` child turns."""

    type: Literal["free_talk"]
    prompt: Spoken
    turns: int = Field(default=2, ge=1, le=10)


class Recap(_Step):
    """The companion sums up with `say`."""

    type: Literal["recap"]
    say: Spoken


Step = Annotated[Explain | Ask | Quiz | Story | FreeTalk | Recap, Field(discriminator="type")]
STEP_TYPES = ("explain", "ask", "quiz", "story", "free_talk", "recap")


class Word(_Strict):
    word: str = Field(min_length=1)
    meaning: str = Field(min_length=1)


class DeviceSettings(_Strict):
    """How the device should be set for the lesson, on devices that offer the settings as tools (XiaoZhi boards)."""

    volume: int | None = Field(default=None, ge=0, le=100, description="Speaker volume, 0 to 100.")
    brightness: int | None = Field(default=None, ge=0, le=100, description="Screen brightness, 0 to 100.")
    theme: Literal["light", "dark"] | None = Field(default=None, description="Screen theme.")


class Lesson(_Strict):
    """One lesson a teacher wrote: who the companion is, what the child learns, and the steps to get there."""

    id: str = Field(pattern=SLUG, description="Equals the file name without .yaml.")
    title: str = Field(min_length=1, max_length=120)
    language: Literal["en", "zh"]
    voice: str = Field(default="embedded", description='"embedded" (English) or a piper voice name.')
    ages: tuple[int, int] = Field(description="Youngest and oldest, 4 to 14.")
    minutes: int = Field(ge=1, le=90)
    persona: str = Field(min_length=1, max_length=600)
    objectives: list[str] = Field(min_length=1)
    topics: list[str] = Field(min_length=1)
    vocabulary: list[Word] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1, max_length=40)
    closing: Spoken
    device: DeviceSettings = Field(default_factory=DeviceSettings, description="Set on the device as the lesson starts.")

    @field_validator("ages")
    @classmethod
    def _ages_make_sense(cls, ages: tuple[int, int]) -> tuple[int, int]:
        youngest, oldest = ages
        if not 4 <= youngest <= oldest <= 14:
            raise ValueError("ages must be [youngest, oldest] between 4 and 14")
        return ages

    @model_validator(mode="after")
    def _unique_step_ids(self) -> "Lesson":
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"two steps have the id {step.id!r}")
            seen.add(step.id)
        return self

    @property
    def young(self) -> bool:
        return self.ages[0] < 8


def slug_ok(name: str) -> bool:
    return re.match(SLUG, name) is not None
