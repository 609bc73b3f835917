"""A quiz spoken to the real models: a right answer moves the lesson on, a wrong one gets the hint."""

import numpy as np
import pytest
from conftest import QUIZ_LESSON, fast_settings, silence

from hootkit.app import create_app
from hootkit.client.device import DeviceClient
from hootkit.client.speech import speak
from hootkit.serving import serve_in_loop

pytestmark = pytest.mark.models



def answer(text: str) -> np.ndarray:
    return np.concatenate([speak(text), silence(0.1)])


async def test_spoken_quiz_answers(real_engines, tmp_path):
    (tmp_path / "legs.yaml").write_text(QUIZ_LESSON)
    app = create_app(fast_settings(lessons_dir=tmp_path, watch_lessons=False), real_engines)
    async with serve_in_loop(app) as url, DeviceClient(url, device_id="owl-1") as device:
        hoot = app.state.hoot
        run = hoot.classroom.assign("legs", ["owl-1"])["owl-1"]
        session = next(iter(hoot.gateway.sessions.values()))
        await session.start_lesson(run)
        opening = await device.told()
        assert opening.reply.endswith("How many legs does a spider have?") and opening.audio

        wrong = await device.ask(answer("Six legs."))
        assert "six" in wrong.transcript.lower() or "6" in wrong.transcript
        assert wrong.reply == "Good try! Count two hands of four fingers." and wrong.audio
        assert session.lesson.index == 0

        right = await device.ask(answer("It has eight legs."))
        assert right.reply == "Yes, eight legs! Why do you think spiders spin webs?", f"heard {right.transcript!r}"
        assert [(e.step_id, e.correct) for e in right.lesson] == [("spider-legs", True), ("why", None)]
        assert session.lesson.index == 1 and session.lesson.results == {"spider-legs": True}

        guided = await device.ask(answer("Because they like to dance."))
    assert guided.reply and guided.audio  # the LLM's guiding question, grounded in the step's facts, through the guard
    assert session.lesson.index == 1 and not guided.lesson
