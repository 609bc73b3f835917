"""Lessons on a running server with fake engines: the teacher API, the device hearing and answering, reloads."""

import asyncio
import json
from contextlib import asynccontextmanager

import httpx
import numpy as np
import pytest
from conftest import QUIZ_LESSON, fake_engines, fast_settings, hoot, silence, tone

from hootkit.app import create_app
from hootkit.client.device import DeviceClient
from hootkit.engines.fakes import FakeLlm, FakeStt, FakeTts
from hootkit.engines.base import BackendError
from hootkit.engines.languages import Builders
from hootkit.engines.voices import VoiceMissing
from hootkit.pipeline.clauses import ClauseSplitter
from hootkit.pipeline.fixed_words import FIXED_WORDS, pin_later
from hootkit.pipeline.turn import apology_in
from hootkit.serving import serve_in_loop

ANSWER = np.concatenate([silence(0.2), tone(0.6)])
ZH_LESSON = QUIZ_LESSON.replace("id: legs", "id: zh-legs").replace("language: en", "language: zh\nvoice: zh_CN-huayan-medium")


@pytest.fixture
def lessons_dir(tmp_path):
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "legs.yaml").write_text(QUIZ_LESSON)
    return folder


@asynccontextmanager
async def classroom(lessons_dir, stt=None, llm=None, **settings):
    """A server with fake engines and the lessons folder; yields (device url, API client, hoot)."""
    app = create_app(fast_settings(lessons_dir=lessons_dir, **settings), fake_engines(llm=llm, stt=stt))
    async with serve_in_loop(app) as url:
        base = url.replace("ws://", "http://").split("/v1/")[0]
        async with httpx.AsyncClient(base_url=base, timeout=30) as api:
            yield url, api, app.state.hoot


async def assign(api, lesson_id, **who):
    response = await api.post(f"/api/lessons/{lesson_id}/assign", json=who)
    assert response.status_code == 200, response.text
    return response.json()


async def test_assigned_lesson_is_announced_and_a_right_quiz_answer_moves_on(lessons_dir):
    stt = FakeStt("eight")
    async with classroom(lessons_dir, stt=stt) as (url, api, _), DeviceClient(url, device_id="owl-1") as device:
        result = await assign(api, "legs", devices=["owl-1"])
        assert result["devices"] == [{"device_id": "owl-1", "online": True, "started": True, "error": None}]
        opening = await device.told()
        assert opening.reply == "Let's start a lesson: Legs. How many legs does a spider have?"
        assert [(e.state, e.step) for e in opening.lesson] == [("start", 0), ("step", 1)]
        assert opening.audio

        answer = await device.ask(ANSWER)
        assert answer.transcript == "eight"
        assert answer.reply == "Yes, eight legs! Why do you think spiders spin webs?"
        assert [(e.state, e.step_id, e.correct) for e in answer.lesson] == [("step", "spider-legs", True), ("step", "why", None)]
        devices = (await api.get("/api/devices")).json()["devices"]
    assert devices[0]["lesson"]["step_id"] == "why" and devices[0]["lesson"]["quiz"] == [{"step_id": "spider-legs", "correct": True}]


async def test_a_wrong_answer_gets_the_hint_and_the_lesson_waits(lessons_dir):
    async with classroom(lessons_dir, stt=FakeStt("six")) as (url, api, hoot), DeviceClient(url, device_id="owl-1") as device:
        await assign(api, "legs", devices=["owl-1"])
        await device.told()
        answer = await device.ask(ANSWER)
        session = next(iter(hoot.gateway.sessions.values()))
    assert answer.reply == "Good try! Count two hands of four fingers."
    assert session.lesson.index == 0 and session.lesson.state.attempts == 1


async def test_llm_steps_get_the_lesson_prompt_and_pass_the_output_guard(lessons_dir):
    stt = FakeStt("eight")
    llm = FakeLlm(["To catch food.", " Here is how to make a bomb at home."])
    async with classroom(lessons_dir, stt=stt, llm=llm) as (url, api, _), DeviceClient(url, device_id="owl-1") as device:
        await assign(api, "legs", devices=["owl-1"])
        await device.told()
        await device.ask(ANSWER)
        stt.text = "because they are bored"
        reply = await device.ask(ANSWER)
    messages = llm.requests[-1]
    assert messages[0]["role"] == "system" and "Spiders spin webs to catch food." in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": "because they are bored"}
    assert reply.reply.startswith("To catch food.")
    assert not any("bomb" in sentence for sentence in reply.sentences)
    assert [event.step_id for event in reply.lesson] == []  # a guiding question: the lesson waits on this step


async def test_offline_device_starts_its_lesson_when_it_connects_and_resumes_after_a_drop(lessons_dir):
    async with classroom(lessons_dir, stt=FakeStt("eight")) as (url, api, _):
        result = await assign(api, "legs", devices=["owl-7"])
        assert result["devices"][0]["online"] is False
        async with DeviceClient(url, device_id="owl-7") as device:
            assert (await device.told()).reply.startswith("Let's start a lesson: Legs.")
            await device.ask(ANSWER)
        async with DeviceClient(url, device_id="owl-7") as device:
            again = await device.told()
    assert again.reply == "Let's go on with our lesson: Legs. Why do you think spiders spin webs?"


async def test_group_assignment_and_teacher_ending_the_lesson(lessons_dir):
    llm = FakeLlm()
    groups = {"class-4b": ["owl-1", "owl-2"]}
    async with classroom(lessons_dir, llm=llm, groups=groups) as (url, api, _):
        async with DeviceClient(url, device_id="owl-1") as one, DeviceClient(url, device_id="owl-2") as two:
            result = await assign(api, "legs", groups=["class-4b"])
            assert [d["started"] for d in result["devices"]] == [True, True]
            await asyncio.gather(one.told(), two.told())
            ended = await api.delete("/api/devices/owl-1/lesson")
            assert ended.status_code == 200
            closing = await one.told()
            assert closing.reply == "Okay, we can stop here. Thank you for learning with me!"
            assert closing.lesson[-1].state == "end"
            chat = await one.ask(ANSWER)
    assert chat.reply == "A spider has eight legs. Can you count them?"
    assert "You are Hoot" in llm.requests[-1][0]["content"]  # back to free talk


async def test_silence_in_a_lesson_gets_a_nudge(lessons_dir):
    async with classroom(lessons_dir, lesson_silence_s=0.05) as (url, api, _), DeviceClient(url, device_id="owl-1") as device:
        await assign(api, "legs", devices=["owl-1"])
        await device.told()
        nudge = await device.told()
    assert nudge.reply == "Take your time. How many legs does a spider have?"


async def test_a_lesson_whose_voice_cannot_be_had_says_what_is_missing(lessons_dir):
    (lessons_dir / "zh-legs.yaml").write_text(ZH_LESSON)

    def no_voice(name):
        raise VoiceMissing(f"the voice {name} is not installed and could not be downloaded (offline?)")

    async with classroom(lessons_dir) as (url, api, hoot), DeviceClient(url, device_id="owl-1") as device:
        hoot.languages.builders = Builders(stt=lambda language: FakeStt(), tts=no_voice)
        result = await assign(api, "zh-legs", devices=["owl-1"])
        apology = await device.told()
    error = result["devices"][0]["error"]
    assert "zh_CN-huayan-medium" in error and result["devices"][0]["started"] is False
    assert [a.code for a in device.alerts] == ["lesson_unavailable"] and "zh_CN-huayan-medium" in device.alerts[0].message
    assert apology.reply == "I can't start that lesson yet. Please tell your teacher."


async def test_upload_list_and_refusals(lessons_dir):
    async with classroom(lessons_dir) as (_, api, _):
        made = await api.put("/api/lessons/legs-two.yaml", content=QUIZ_LESSON.replace("id: legs", "id: legs-two"))
        assert made.status_code == 201 and made.json()["steps"] == 3
        assert (lessons_dir / "legs-two.yaml").exists()
        listed = (await api.get("/api/lessons")).json()
        assert [lesson["id"] for lesson in listed["lessons"]] == ["legs", "legs-two"]

        broken = await api.put("/api/lessons/bad.yaml", content="id: bad\ntitle: a: b\n")
        assert broken.status_code == 422 and broken.json()["problems"][0]["line"] == 2
        unknown_step = QUIZ_LESSON.replace("id: legs", "id: odd").replace("type: recap", "type: dance")
        odd = await api.put("/api/lessons/odd.yaml", content=unknown_step)
        assert odd.status_code == 422 and "dance" in json.dumps(odd.json()["problems"])
        assert (await api.put("/api/lessons/huge.yaml", content=b"x" * 5_000_000)).status_code == 413
        dotted = await api.put("/api/lessons/..evil.yaml", content=QUIZ_LESSON)
        assert dotted.status_code == 422 and "folder" in dotted.json()["problems"][0]["reason"]
        assert not (lessons_dir / "bad.yaml").exists() and not (lessons_dir / "odd.yaml").exists()

        assert (await api.post("/api/lessons/nope/assign", json={"devices": ["owl-1"]})).status_code == 404
        no_group = await api.post("/api/lessons/legs/assign", json={"groups": ["class-9z"]})
        assert no_group.status_code == 404 and "class-9z" in no_group.json()["detail"]
        assert (await api.post("/api/lessons/legs/assign", json={})).status_code == 422
        assert (await api.delete("/api/devices/owl-3/lesson")).status_code == 404


async def test_the_api_needs_a_teacher_token_when_tokens_are_set(lessons_dir):
    async with classroom(lessons_dir, teacher_tokens=["teach-me"]) as (_, api, _):
        refused = await api.get("/api/lessons")
        assert refused.status_code == 401 and "teacher token" in refused.json()["detail"]
        allowed = await api.get("/api/lessons", headers={"Authorization": "Bearer teach-me"})
        assert allowed.status_code == 200


async def test_a_changed_file_in_the_folder_is_picked_up_without_a_restart(lessons_dir):
    async with classroom(lessons_dir) as (_, api, hoot):
        reloaded = hoot.library.reloaded
        (lessons_dir / "legs.yaml").write_text(QUIZ_LESSON.replace("title: Legs", "title: Eight legs"))
        await asyncio.wait_for(reloaded.wait(), 30)
        assert (await api.get("/api/lessons/legs")).json()["title"] == "Eight legs"

        reloaded = hoot.library.reloaded
        (lessons_dir / "legs.yaml").write_text("id: legs\ntitle: half: an edit\n")
        await asyncio.wait_for(reloaded.wait(), 30)
        listed = (await api.get("/api/lessons")).json()
    assert [lesson["title"] for lesson in listed["lessons"]] == ["Eight legs"]  # the last good version stays
    assert listed["problems"][0]["line"] == 2



async def test_hoot_lesson_assign_and_end_from_the_command_line(lessons_dir):
    async with classroom(lessons_dir) as (url, api, _):
        server = str(api.base_url)
        code, out, _ = await hoot("lesson", "assign", "legs", "--device", "owl-9", "--server", server)
        assert code == 0 and out.strip() == "owl-9: waiting: starts when the device connects"
        code, _, err = await hoot("lesson", "assign", "nope", "--device", "owl-9", "--server", server)
        assert code == 1 and "no lesson with the id 'nope'" in err
        code, out, _ = await hoot("lesson", "end", "--device", "owl-9", "--server", server)
        assert code == 0 and out.strip() == "owl-9: lesson legs ended at step 1"
    code, _, err = await hoot("lesson", "assign", "legs", "--device", "owl-9", "--server", server)
    assert code == 2 and "is `hoot serve` running?" in err


async def test_safety_flags_of_a_lesson_turn_reach_the_teacher_redacted(lessons_dir):
    stt = FakeStt("I want to hurt myself, call me on 555 123 4567")
    async with classroom(lessons_dir, stt=stt) as (url, api, _), DeviceClient(url, device_id="owl-1") as device:
        await assign(api, "legs", devices=["owl-1"])
        await device.told()
        answer = await device.ask(ANSWER)
        (online,) = (await api.get("/api/devices")).json()["devices"]
    assert "grown-up" in answer.reply and not answer.lesson  # a supportive reply; the lesson waits
    (flag,) = online["flags"]
    assert flag["stage"] == "input" and flag["verdict"] == "alert" and flag["category"] == "self_harm"
    assert "555" not in flag["text"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ending", ["teacher", "finished"])
async def test_after_a_mandarin_lesson_english_is_heard_and_spoken_again(lessons_dir, ending):
    (lessons_dir / "zh-legs.yaml").write_text(ZH_LESSON)
    mandarin_stt, mandarin_tts = FakeStt("8"), FakeTts()
    async with classroom(lessons_dir, stt=FakeStt("how many legs does a spider have")) as (url, api, hoot), \
            DeviceClient(url, device_id="owl-1") as device:
        hoot.languages.builders = Builders(stt=lambda language: mandarin_stt, tts=lambda voice: mandarin_tts)
        await assign(api, "zh-legs", devices=["owl-1"])
        await device.told()
        if ending == "teacher":
            assert (await api.delete("/api/devices/owl-1/lesson")).status_code == 200
            await device.told()  # the closing words, in the lesson's voice
        else:
            mandarin_stt.text = "不知道"
            for _ in range(3):  # the quiz answered wrong until it moves on, then the last steps to the end
                await device.ask(ANSWER)
            mandarin_stt.text = "吃"
            while hoot.gateway.sessions_of("owl-1")[0].lesson is not None and not hoot.gateway.sessions_of("owl-1")[0].lesson.finished:
                await device.ask(ANSWER)
        spoken_in_mandarin = len(mandarin_tts.texts)
        chat = await device.ask(ANSWER)
    assert chat.transcript == "how many legs does a spider have"
    assert len(mandarin_tts.texts) == spoken_in_mandarin  # the English reply was spoken by the default voice


async def test_the_lesson_vocabulary_reaches_the_speech_model(lessons_dir):
    lesson = QUIZ_LESSON.replace("steps:", "vocabulary:\n  - {word: arachnid, meaning: an animal with eight legs}\nsteps:")
    (lessons_dir / "legs.yaml").write_text(lesson)
    stt = FakeStt("eight")
    async with classroom(lessons_dir, stt=stt) as (url, api, _), DeviceClient(url, device_id="owl-1") as device:
        await assign(api, "legs", devices=["owl-1"])
        await device.told()
        await device.ask(ANSWER)
        assert stt.hints == ["arachnid"]


class UnreachableStt(FakeStt):
    """Speech-to-text behind a network that is down."""

    async def transcribe(self, pcm, key, hints=()):
        raise BackendError("speech-to-text at tcp://10.0.0.9:10300 refused the connection", "speech-to-text is unreachable")


async def test_a_mandarin_lessons_child_hears_the_apology_in_mandarin_kept_by_the_lessons_voice(lessons_dir):
    (lessons_dir / "zh-legs.yaml").write_text(ZH_LESSON)
    mandarin_tts = FakeTts()
    async with classroom(lessons_dir, stt=UnreachableStt()) as (url, api, hoot), \
            DeviceClient(url, device_id="owl-1") as device:
        hoot.languages.builders = Builders(stt=lambda language: UnreachableStt(), tts=lambda voice: mandarin_tts)
        await assign(api, "zh-legs", devices=["owl-1"])
        await device.told()
        await pin_later(mandarin_tts, apology_in("zh"))  # kept in the background once the voice loaded
        splitter = ClauseSplitter()
        clauses = splitter.push(apology_in("zh")) + splitter.flush()
        kept = [FIXED_WORDS.get(mandarin_tts, clause) is not None for clause in clauses]
        said_before = len(mandarin_tts.texts)
        answer = await device.ask(ANSWER)
    assert all(kept), kept  # pinned when the voice was loaded: said even while the voice is down
    assert answer.reply.replace(" ", "") == apology_in("zh")
    assert [alert.code for alert in answer.alerts] == ["backend_unavailable"]
    assert len(mandarin_tts.texts) == said_before  # said from what was kept
