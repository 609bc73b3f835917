"""The lesson engine walked with scripted answers: right, wrong, silence, off topic, "I don't know", stop."""

from hootkit.lessons.engine import Generate, LessonRun, Progress, Say
from hootkit.lessons.model import Lesson

LESSON = Lesson.model_validate({
    "id": "spiders", "title": "Spiders", "language": "en", "ages": [6, 9], "minutes": 10,
    "persona": "Hoot, a friendly AI owl helper.", "objectives": ["Count a spider's legs"], "topics": ["spiders", "webs"],
    "vocabulary": [{"word": "arachnid", "meaning": "an animal with eight legs"}],
    "steps": [
        {"id": "hello", "type": "explain", "say": "Today we meet spiders."},
        {"id": "guess", "type": "ask", "question": "How many legs do you think a spider has?", "expect": ["8"],
         "facts": ["Spiders have eight legs."]},
        {"id": "legs", "type": "quiz", "question": "How many legs does a spider have?", "answers": ["8"],
         "hint": "Count two hands of four fingers.", "attempts": 2, "explain": "A spider has eight legs.",
         "praise": "Yes, eight legs!"},
        {"id": "story", "type": "story", "prompt": "What is our spider called?", "turns": 2},
        {"id": "chat", "type": "free_talk", "prompt": "What else do you want to know?", "turns": 1,
         "facts": ["Spiders make silk."]},
        {"id": "recap", "type": "recap", "say": "Spiders have eight legs."},
    ],
    "closing": "Thank you for learning with me!",
})


def said(actions) -> list[str]:
    return [action.text for action in actions if isinstance(action, Say)]


def at_step(run: LessonRun, step_id: str) -> None:
    assert run.lesson.steps[run.index].id == step_id


def test_start_announces_the_lesson_and_runs_the_explain_step_into_the_first_question():
    run = LessonRun(LESSON)
    actions = run.start()
    assert isinstance(actions[0], Progress) and actions[0].state == "start" and actions[0].steps == 6
    assert said(actions) == ["Let's start a lesson: Spiders.", "Today we meet spiders.", "How many legs do you think a spider has?"]
    at_step(run, "guess")


def test_ask_on_track_is_praised_with_the_teachers_fact_and_moves_on():
    run = LessonRun(LESSON)
    run.start()
    actions = run.heard("maybe eight")
    assert said(actions) == ["Good thinking! Spiders have eight legs.", "How many legs does a spider have?"]
    assert not any(isinstance(action, Generate) for action in actions)
    at_step(run, "legs")


def test_ask_without_facts_lets_the_llm_praise_the_idea_with_the_instruction_before_the_childs_words():
    lesson = LESSON.model_copy(update={"steps": [LESSON.steps[1].model_copy(update={"facts": [], "expect": []})]})
    run = LessonRun(lesson)
    run.start()
    generate = run.heard("they like the number eight")[0]
    assert generate.messages[0]["role"] == "system" and "Spiders have eight legs." not in generate.messages[0]["content"]
    assert generate.messages[-2]["role"] == "system" and "Praise" in generate.messages[-2]["content"]
    assert generate.messages[-1] == {"role": "user", "content": "they like the number eight"}


def test_ask_wrong_gets_a_guiding_question_then_the_answer():
    run = LessonRun(LESSON)
    run.start()
    first = run.heard("six")
    instruction = first[-1].messages[-2]["content"]
    assert "guiding question" in instruction and "Facts for this step: Spiders have eight legs." in instruction
    at_step(run, "guess")
    second = run.heard("ten?")
    assert said(second) == ["Good try! Spiders have eight legs.", "How many legs does a spider have?"]
    at_step(run, "legs")


def test_ask_i_dont_know_gets_a_hint_not_the_answer():
    run = LessonRun(LESSON)
    run.start()
    actions = run.heard("I don't know")
    assert "small hint" in actions[0].messages[-2]["content"]
    at_step(run, "guess")


def quiz_run() -> LessonRun:
    run = LessonRun(LESSON)
    run.start()
    run.heard("eight")
    return run


def test_quiz_right_answer_in_words_or_digits_is_praised_and_recorded():
    for answer in ("eight", "It has 8 legs", "EIGHT!"):
        run = quiz_run()
        actions = run.heard(answer)
        assert said(actions)[0] == "Yes, eight legs!"
        assert run.results == {"legs": True}
        at_step(run, "story")


def test_quiz_wrong_answer_gets_the_hint_then_the_explanation_after_the_last_attempt():
    run = quiz_run()
    assert said(run.heard("six")) == ["Good try! Count two hands of four fingers."]
    at_step(run, "legs")
    actions = run.heard("eighteen")
    assert said(actions)[0] == "Good try! A spider has eight legs."
    assert run.results == {"legs": False}
    at_step(run, "story")


def test_quiz_i_dont_know_is_answered_kindly_with_the_hint():
    run = quiz_run()
    assert said(run.heard("I dunno")) == ["That's a hard one. Count two hands of four fingers."]


def test_silence_asks_again_then_moves_on():
    run = quiz_run()
    assert said(run.heard("")) == ["Take your time. How many legs does a spider have?"]
    actions = run.heard("")
    assert said(actions)[0] == "A spider has eight legs." and run.results == {"legs": False}
    at_step(run, "story")


def test_story_builds_together_for_its_turns():
    run = quiz_run()
    run.heard("8")
    first = run.heard("Sparkle")
    assert len(first) == 1 and "story" in first[0].messages[-2]["content"]
    at_step(run, "story")
    second = run.heard("she spins a web as big as a house")
    assert isinstance(second[0], Generate)
    assert said(second) == ["What else do you want to know?"]
    at_step(run, "chat")


def test_off_topic_free_talk_is_steered_back_and_the_lesson_ends_with_recap_and_closing():
    run = quiz_run()
    run.heard("8")
    run.heard("Sparkle")
    run.heard("the end")
    actions = run.heard("what is the best video game?")
    assert "steer back" in actions[0].messages[-2]["content"] and "Spiders make silk." in actions[0].messages[-2]["content"]
    assert said(actions) == ["Spiders have eight legs.", "Thank you for learning with me!"]
    assert actions[-1] == Progress("end", 6, 6, "Spiders") and run.finished
    assert run.heard("hello?") == []


def test_a_request_to_stop_ends_the_lesson_at_once():
    run = quiz_run()
    actions = run.heard("I want to stop")
    assert said(actions) == ["Okay, we can stop here. Thank you for learning with me!"]
    assert actions[-1].state == "end" and run.finished


def test_the_system_prompt_is_the_same_for_every_step_and_carries_the_rules():
    run = LessonRun(LESSON)
    run.start()
    asked = run.heard("six")[0]
    run.heard("eight")
    run.heard("8")
    story = run.heard("Sparkle")[0]
    prompts = {asked.messages[0]["content"], story.messages[0]["content"]}
    assert len(prompts) == 1
    prompt = prompts.pop()
    assert "not a person" in prompt and "I'm not sure, let's find out together" in prompt and "arachnid" in prompt
    assert "Spiders make silk." in prompt  # facts of every step, so the prefix stays stable


def test_replies_are_kept_among_the_recent_turns():
    run = quiz_run()
    run.heard("8")
    generate = run.heard("Sparkle")[0]
    run.replied("Sparkle spins a big web. What happens next?")
    again = run.heard("she catches the moon")[0]
    assert {"role": "assistant", "content": "Sparkle spins a big web. What happens next?"} in again.messages
    assert generate.messages[0] == again.messages[0]


def test_no_idea_is_not_the_answer_no():
    quiz = {"id": "insect", "type": "quiz", "question": "Is a spider an insect?", "answers": ["no"],
            "hint": "Count its legs.", "explain": "No, it is an arachnid."}
    run = LessonRun(Lesson.model_validate({**LESSON.model_dump(), "steps": [quiz, LESSON.steps[-1].model_dump()]}))
    run.start()
    assert said(run.heard("no idea")) == ["That's a hard one. Count its legs."]
    assert said(run.heard("no"))[0] == "Yes, well done!"


def test_a_mandarin_lesson_speaks_its_own_language():
    lesson = Lesson.model_validate({**LESSON.model_dump(), "language": "zh", "title": "蜘蛛"})
    run = LessonRun(lesson)
    assert said(run.start())[0] == "我们开始上课吧：蜘蛛。"
    assert "Mandarin" in run.system_prompt()


def test_recent_turns_forget_half_at_once_so_the_cached_prompt_prefix_lasts():
    run = quiz_run()
    run.recent = [{"role": "user", "content": str(n)} for n in range(8)]
    run.replied("nine")
    assert len(run.recent) == 4 and run.recent[-1] == {"role": "assistant", "content": "nine"}
    run.replied("ten")
    assert run.recent[:4] == [{"role": "user", "content": "5"}, {"role": "user", "content": "6"},
                              {"role": "user", "content": "7"}, {"role": "assistant", "content": "nine"}]
