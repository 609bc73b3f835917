"""What a teacher sees of a lesson run: which step of how many, and the quiz answers so far."""

from hootkit.lessons.engine import LessonRun


def progress(run: LessonRun | None) -> dict | None:
    if run is None:
        return None
    steps = run.lesson.steps
    return {"lesson": run.lesson.id, "title": run.lesson.title, "step": min(run.index + 1, len(steps)),
            "steps": len(steps), "step_id": steps[min(run.index, len(steps) - 1)].id,
            "finished": run.finished, "quiz": [{"step_id": step_id, "correct": correct}
                                               for step_id, correct in run.results.items()]}
