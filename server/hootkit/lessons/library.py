"""The lessons folder in memory: uploads are checked before they are written, edits are picked up live."""

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from hootkit.lessons.loader import Problem, check_file_name, load_folder, read_lesson
from hootkit.lessons.model import Lesson

log = logging.getLogger(__name__)


class LessonLibrary:
    """Every valid lesson by id, and the problems of the files that are not valid.

    A file whose new version is broken keeps its last good version (and its problems are listed),
    so a teacher's half-finished edit never takes a lesson away from a class.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.lessons: dict[str, Lesson] = {}
        self.problems: list[Problem] = []
        self.reloaded = asyncio.Event()
        self.listeners: list[Callable[[], None]] = []  # told after every reload or upload

    def reload(self) -> None:
        lessons, problems = load_folder(self.folder) if self.folder.is_dir() else ({}, [])
        for problem in problems:
            lesson_id = Path(problem.source).stem
            if lesson_id in self.lessons and lesson_id not in lessons and Path(problem.source).exists():
                lessons[lesson_id] = self.lessons[lesson_id]
        added, removed = lessons.keys() - self.lessons.keys(), self.lessons.keys() - lessons.keys()
        self.lessons, self.problems = lessons, problems
        log.info("lessons: %d ready (%s added, %s removed), %d problems", len(lessons),
                 ", ".join(sorted(added)) or "none", ", ".join(sorted(removed)) or "none", len(problems))
        for problem in problems:
            log.warning("lesson problem: %s", problem)
        event, self.reloaded = self.reloaded, asyncio.Event()
        event.set()
        self._tell()

    def save(self, file_name: str, data: bytes) -> Lesson:
        """Check an uploaded file and only then write it into the folder; raises LessonError."""
        lesson = read_lesson(data, file_name, check_file_name(file_name))
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{file_name}.part"
        partial.write_bytes(data)
        os.replace(partial, self.folder / file_name)
        self.lessons[lesson.id] = lesson
        self._tell()
        return lesson

    def _tell(self) -> None:
        for listener in self.listeners:
            listener()

    async def watch(self) -> None:
        """Reload whenever a lesson file in the folder changes, until cancelled."""
        from watchfiles import awatch

        self.folder.mkdir(parents=True, exist_ok=True)
        async for _changes in awatch(self.folder, watch_filter=_is_lesson_file, debounce=300, step=50):
            self.reload()


def _is_lesson_file(_change, path: str) -> bool:
    name = os.path.basename(path)
    return not name.startswith(".") and name.endswith((".yaml", ".yml"))
