"""The lesson engine: what the child said in, what to say or ask the LLM out, one run per session. No I/O."""

from dataclasses import dataclass, field, replace

from hootkit.lessons import answers
from hootkit.lessons.model import Ask, Explain, FreeTalk, Lesson, Quiz, Recap, Story
from hootkit.pipeline.actions import Action, Generate, Progress, Say

MAX_SILENCES = 2
MAX_ASK_TRIES = 2
RECENT_TURNS = 4
PHRASES = {
    "en": {
        "start": "Let's start a lesson: {}.", "resume": "Let's go on with our lesson: {}.",
        "stop": "Okay, we can stop here. ", "again": "Take your time. ", "go_on": "That's okay, let's go on.",
        "praise": "Yes, well done!", "try": "Good try! ", "thinking": "Good thinking! ", "hard": "That's a hard one. ",
    },
    "zh": {
        "start": "我们开始上课吧：{}。", "resume": "我们继续上课：{}。",
        "stop": "好的，我们先到这里。", "again": "慢慢想。", "go_on": "没关系，我们继续。",
        "praise": "对了，真棒！", "try": "想得很好！", "thinking": "你想得真好！", "hard": "这个有点难。",
    },
}
RULES = (
    "You are an AI helper, a computer program, not a person; say so if asked. You do not have feelings. "
    "Never ask for personal information such as an address, a school, a phone number or a full name. "
    "Keep every reply to one to three short sentences a child can understand. "
    "Ask a guiding question before you explain, and praise effort. "
    "Only state facts from the lesson's facts. If the child asks something the facts do not answer, say "
    "\"I'm not sure, let's find out together\" and invite them to check with their teacher."
)


@dataclass
class StepState:
    """What happened in the current step so far."""

    attempts: int = 0
    silences: int = 0
    turns: int = 0


@dataclass
class LessonRun:
    """One child going through one lesson: `start()`, then `heard(text)` for each thing the child says."""

    lesson: Lesson
    index: int = 0
    state: StepState = field(default_factory=StepState)
    recent: list[dict] = field(default_factory=list)
    results: dict[str, bool] = field(default_factory=dict)
    started: bool = False
    finished: bool = False

    @property
    def phrases(self) -> dict[str, str]:
        return PHRASES[self.lesson.language]

    def start(self) -> list[Action]:
        """The lesson's opening words and first step; after a reconnect, the current step again."""
        if self.finished:
            return []
        opening = self.phrases["resume" if self.started else "start"].format(self.lesson.title)
        self.started = True
        return [Progress("start", self.index, len(self.lesson.steps), self.lesson.title), Say(opening), *self._enter()]

    def fork(self) -> "LessonRun":
        """A copy to try a turn on; the session keeps it only if the turn is committed."""
        return replace(self, state=replace(self.state), recent=list(self.recent), results=dict(self.results))

    def heard(self, text: str) -> list[Action]:
        """The child's words ("" when they said nothing)."""
        if self.finished:
            return []
        text = text.strip()
        if text and answers.wants_to_stop(text):
            return self.stop()
        step = self.lesson.steps[self.index]
        if not text:
            return self._silence(step)
        self.state.turns += 1
        if isinstance(step, Quiz):
            return self._quiz(step, text)
        if isinstance(step, Ask):
            return self._ask(step, text)
        if isinstance(step, (Story, FreeTalk)):
            return self._talk(step, text)
        return self._advance()

    def stop(self) -> list[Action]:
        """End the lesson now (the child or the teacher asked), with its closing words."""
        return self._finish(self.phrases["stop"] + self.lesson.closing)

    def replied(self, text: str) -> None:
        """What the LLM said, kept among the recent turns of the prompt."""
        self.recent.append({"role": "assistant", "content": text})
        self._trim()

    def system_prompt(self) -> str:
        """The same for every step of the lesson, so the LLM keeps it cached."""
        lesson = self.lesson
        facts = [fact for step in lesson.steps for fact in step.facts]
        words = "; ".join(f"{word.word}: {word.meaning}" for word in lesson.vocabulary)
        language = "Answer in simple Mandarin Chinese." if lesson.language == "zh" else "Answer in simple English."
        return (
            f"{lesson.persona.strip()}\n{RULES} {language}\n"
            f"Lesson: {lesson.title}, for children aged {lesson.ages[0]} to {lesson.ages[1]}.\n"
            f"Objectives: {'; '.join(lesson.objectives)}.\nTopics: {', '.join(lesson.topics)}.\n"
            + (f"Words: {words}.\n" if words else "")
            + f"Facts: {' '.join(facts) if facts else 'none'}"
        )

    # -- steps ---------------------------------------------------------------------------------

    def _enter(self) -> list[Action]:
        step = self.lesson.steps[self.index]
        self.state = StepState()
        progress = Progress("step", self.index + 1, len(self.lesson.steps), self.lesson.title, step.id)
        if isinstance(step, (Explain, Recap)):
            return [progress, Say(step.say), *self._advance()]
        opening = step.question if isinstance(step, (Ask, Quiz)) else step.prompt
        self.recent.append({"role": "assistant", "content": opening})
        return [progress, Say(opening)]

    def _advance(self) -> list[Action]:
        self.index += 1
        if self.index >= len(self.lesson.steps):
            return self._finish(self.lesson.closing)
        return self._enter()

    def _finish(self, words: str) -> list[Action]:
        self.finished = True
        steps = len(self.lesson.steps)
        return [Say(words), Progress("end", min(self.index + 1, steps), steps, self.lesson.title)]

    def _silence(self, step) -> list[Action]:
        self.state.silences += 1
        if self.state.silences >= MAX_SILENCES:
            if isinstance(step, Quiz):
                return [Say(step.explain), *self._record(step, False), *self._advance()]
            return [Say(self.phrases["go_on"]), *self._advance()]
        again = step.question if isinstance(step, (Ask, Quiz)) else step.prompt
        return [Say(self.phrases["again"] + again)]

    def _quiz(self, step: Quiz, text: str) -> list[Action]:
        unsure = answers.does_not_know(text)  # before matching: "no idea" is not the answer "no"
        if not unsure and answers.matches(text, step.answers + step.synonyms):
            return [Say(step.praise or self.phrases["praise"]), *self._record(step, True), *self._advance()]
        self.state.attempts += 1
        if self.state.attempts >= step.attempts:
            return [Say(self.phrases["try"] + step.explain), *self._record(step, False), *self._advance()]
        return [Say(self.phrases["hard" if unsure else "try"] + step.hint)]

    def _ask(self, step: Ask, text: str) -> list[Action]:
        on_track = not step.expect or answers.matches(text, step.expect)
        if (on_track or self.state.turns >= MAX_ASK_TRIES) and step.facts:
            # the teacher's facts, said as written: a 135M model asked to "praise and add a fact" often echoes the request
            words = self.phrases["thinking"] + step.facts[0] if on_track else self.phrases["try"] + " ".join(step.facts)
            self._remember(text, words)
            return [Say(words), *self._advance()]
        if on_track or self.state.turns >= MAX_ASK_TRIES:
            note = ("Praise the child's idea in one short sentence." if on_track else
                    "Kindly tell the child the answer in one or two short sentences.")
            return [self._generate(text, step.facts, note), *self._advance()]
        note = ("Give the child a small hint as a question. Do not give the answer."
                if answers.does_not_know(text) else
                "Tell the child it was a good try, then ask one guiding question. Do not give the answer.")
        return [self._generate(text, step.facts, note)]

    def _talk(self, step: Story | FreeTalk, text: str) -> list[Action]:
        if isinstance(step, Story):
            note = "Add one short idea to the story you are making together, then ask the child what happens next."
        else:
            note = "Answer within the lesson's topics and facts; if it is outside them, steer back kindly to the topics."
        actions: list[Action] = [self._generate(text, step.facts, note)]
        if self.state.turns >= step.turns:
            actions += self._advance()
        return actions

    def _generate(self, text: str, facts: list[str], note: str) -> Generate:
        """The lesson prompt, the recent turns, then what to do now just before the child's words."""
        step_facts = f" Facts for this step: {' '.join(facts)}" if facts else ""
        instruction = {"role": "system", "content": f"{note}{step_facts}"}
        messages = [{"role": "system", "content": self.system_prompt()}, *self.recent, instruction,
                    {"role": "user", "content": text}]
        self._remember(text)
        return Generate(messages)

    def _remember(self, text: str, said: str | None = None) -> None:
        self.recent.append({"role": "user", "content": text})
        if said is not None:
            self.recent.append({"role": "assistant", "content": said})
        self._trim()

    def _trim(self) -> None:
        """Forget the older half at once when the recent turns are full: dropping one message per turn
        would change the prompt right after the cached lesson prefix every time (bench/lesson_prompt.py)."""
        if len(self.recent) > 2 * RECENT_TURNS:
            del self.recent[: len(self.recent) - RECENT_TURNS]

    def _record(self, step: Quiz, correct: bool) -> list[Action]:
        self.results[step.id] = correct
        return [Progress("step", self.index + 1, len(self.lesson.steps), self.lesson.title, step.id, correct)]
