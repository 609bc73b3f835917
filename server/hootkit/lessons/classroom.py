"""Which device is on which lesson: teachers assign by device or by group; a run outlives a dropped connection."""

import time

from hootkit.lessons.engine import LessonRun
from hootkit.lessons.library import LessonLibrary


class UnknownName(KeyError):
    """A lesson or a group that does not exist; the message says which."""

    def __str__(self) -> str:
        return self.args[0]


class Classroom:
    """The assignments: one lesson run per device id, started when the device is (or next gets) online."""

    def __init__(self, library: LessonLibrary, groups: dict[str, list[str]]):
        self.library = library
        self.groups = groups
        self.runs: dict[str, LessonRun] = {}
        self.held: dict[str, str] = {}  # device id -> "pause" or "stop", applied again when it reconnects
        self.held_changed: dict[str, float] = {}  # device id -> when a command last changed its hold (monotonic)

    def devices(self, device_ids: list[str], groups: list[str]) -> list[str]:
        """The device ids named directly or through groups, each once, in order."""
        unknown = [group for group in groups if group not in self.groups]
        if unknown:
            known = ", ".join(sorted(self.groups)) or "none are set up"
            raise UnknownName(f"no group named {', '.join(unknown)} (groups: {known})")
        named = list(device_ids) + [device for group in groups for device in self.groups[group]]
        return list(dict.fromkeys(named))

    def assign(self, lesson_id: str, device_ids: list[str]) -> dict[str, LessonRun]:
        """A fresh run of the lesson for each device, replacing what it was doing."""
        lesson = self.library.lessons.get(lesson_id)
        if lesson is None:
            raise UnknownName(f"no lesson with the id {lesson_id!r}")
        runs = {device: LessonRun(lesson) for device in device_ids}
        self.runs.update(runs)
        return runs

    def resume(self, device_id: str, lesson_id: str, step: int, quiz: list[dict]) -> bool:
        """After a restart: the device goes on at `step` (1-based, 0 = not started) with its quiz answers so far."""
        lesson = self.library.lessons.get(lesson_id)
        if lesson is None:
            return False
        index = min(max(step - 1, 0), len(lesson.steps) - 1)
        results = {answer["step_id"]: answer["correct"] for answer in quiz}
        self.runs[device_id] = LessonRun(lesson, index=index, results=results, started=step > 0)
        return True

    def keep(self, device_id: str, run: LessonRun) -> None:
        """Where a device that dropped was in its lesson, to go on from there when it comes back."""
        self.runs[device_id] = run

    def end(self, device_id: str) -> LessonRun | None:
        return self.runs.pop(device_id, None)

    def control(self, device_id: str, command: str) -> None:
        """Remember a teacher's pause or stop for when the device (re)connects; resume forgets it."""
        self.held_changed[device_id] = time.monotonic()
        if command == "resume":
            self.held.pop(device_id, None)
        else:
            self.held[device_id] = command
            if command == "stop":
                self.end(device_id)
