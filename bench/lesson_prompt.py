"""Lesson prompts: tokens per lesson step, and LLM time to first token with the cached prefix against cold.

Walks each shipped lesson with the lesson engine (LessonRun) as a scripted child, so that every step
that asks the LLM is hit: a quiz gets a wrong answer and then its first accepted answer, an ask step
with `expect` gets an off-track answer and then an on-track one, ask/story/free_talk get plausible
child sentences, and each LLM reply is recorded with a fixed two-sentence reply. Every Generate's
messages are rendered with the model's own chat template and tokenized by the real tokenizer, exactly
as create_chat_completion does (checked once against its usage.prompt_tokens), and split into the
system prefix, the same for every step of the lesson, and the tail after it. `cached_new` is what
llama.cpp still has to evaluate when the lesson's previous prompt is in its KV cache: the tokens after
the longest common token prefix of the two prompts.

Then, in the same process, it times the embedded LLM built from the server's settings, from the request
to the first non-empty content piece, for every Generate and two conditions, in alternating order:
  cold    llama.reset() first: no prefix match, the whole prompt is evaluated;
  cached  the lesson's previous prompt (the bare system prompt before its first Generate) was just
          evaluated, so llama-cpp-python's prefix match in Llama.generate skips the shared tokens.
Prints tables (medians and p95 over every timing of the group; cached_over_cold is the median of the
cached/cold ratio of each pair taken back to back) and writes bench/results/lesson_prompt.json after
every repeat, so an interrupted run keeps what it measured. --quick (spiders, 3 repeats, the first
Generate of each step timed) takes about a minute on 2 cores; the full run about half an hour.
"""

import argparse
import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from hootkit.engines.llama import LlamaLlm
from hootkit.engines.registry import build_llm
from hootkit.lessons import answers
from hootkit.lessons.engine import Generate, LessonRun
from hootkit.lessons.loader import load_folder
from hootkit.lessons.model import Ask, FreeTalk, Lesson, Quiz, Story
from hootkit.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
QUICK_LESSON = "spiders"  # one lesson with ask, story and free_talk steps
CONDITIONS = ("cold", "cached")
CHILD = {
    "en": {
        "off_track": ["A shoe.", "Banana!", "Maybe a cloud."],
        "on_track": "I think it's {}.",
        "open": "A little dragon, because dragons can fly and that is cool.",
        "story": ["His name is Sparkle and he lives in a big tree.",
                  "Then it starts to rain and the web gets wet.",
                  "A friendly bird helps him and they have a party."],
        "talk": ["Can you tell me something fun about {}?", "Wow! Why is that?",
                 "What else do you know about {}?"],
        "reply": "Good thinking, you tried really hard! Here is one more fact for you.",
    },
    "zh": {
        "off_track": ["鞋子。", "香蕉！", "一朵云。"],
        "on_track": "我觉得是{}。",
        "open": "我喜欢小猫，因为它很可爱。",
        "story": ["小兔子住在森林里。", "突然下雨了，它的家湿了。", "小鸟来帮忙，它们成了好朋友。"],
        "talk": ["跟我说说{}吧。", "哇！为什么呢？", "{}还有什么好玩的？"],
        "reply": "想得真好，你很努力！我再告诉你一个知识。",
    },
}


@dataclass
class Turn:
    """One Generate of a lesson walk, with the prompt that came before it in the same lesson."""

    lesson: str
    step: str
    step_type: str
    messages: list[dict]
    previous: list[dict]


# -- walking a lesson ----------------------------------------------------------------------------------


def off_track(accepted: list[str], language: str) -> str:
    for text in CHILD[language]["off_track"]:
        if not answers.matches(text, accepted) and not answers.does_not_know(text):
            return text
    raise ValueError(f"every scripted off-track answer matches one of {accepted}")


def child_says(lesson: Lesson, step, tries: int) -> str:
    """What the scripted child says on its `tries`-th answer (from 0) to `step`."""
    child = CHILD[lesson.language]
    if isinstance(step, Quiz):
        if tries == 0 and step.attempts > 1:
            return off_track(step.answers + step.synonyms, lesson.language)
        return step.answers[0]
    if isinstance(step, Ask):
        if not step.expect:
            return child["open"]
        if tries == 0:
            return off_track(step.expect, lesson.language)
        return child["on_track"].format(step.expect[0])
    if isinstance(step, Story):
        return child["story"][tries % len(child["story"])]
    if isinstance(step, FreeTalk):
        return child["talk"][tries % len(child["talk"])].format(lesson.topics[tries % len(lesson.topics)])
    raise ValueError(f"the engine waits on a {step.type} step, which never listens")


def walk(lesson: Lesson) -> list[Turn]:
    """Every Generate the scripted child draws out of the lesson, in order."""
    run = LessonRun(lesson)
    run.start()
    turns: list[Turn] = []
    previous = [{"role": "system", "content": run.system_prompt()}]
    for _ in range(10 * len(lesson.steps)):
        if run.finished:
            return turns
        step = lesson.steps[run.index]
        for action in run.heard(child_says(lesson, step, run.state.turns)):
            if isinstance(action, Generate):
                turns.append(Turn(lesson.id, step.id, step.type, action.messages, previous))
                previous = action.messages
                run.replied(CHILD[lesson.language]["reply"])
    raise RuntimeError(f"{lesson.id}: the scripted child never finished the lesson")


# -- tokens --------------------------------------------------------------------------------------------


class PromptTokens:
    """The tokens create_chat_completion feeds llama.cpp for a list of messages."""

    def __init__(self, llama: Llama):
        if llama.chat_format != "chat_template.default" or llama.chat_handler is not None:
            raise SystemExit(f"expected the GGUF's own chat template, the model uses {llama.chat_format!r}")
        special = {name: llama.detokenize([token], special=True).decode() if token != -1 else ""
                   for name, token in (("bos", llama.token_bos()), ("eos", llama.token_eos()))}
        template, eos, bos = llama.metadata["tokenizer.chat_template"], special["eos"], special["bos"]
        self.llama = llama
        self.chat = Jinja2ChatFormatter(template, eos, bos)
        self.block = Jinja2ChatFormatter(template, eos, bos, add_generation_prompt=False)

    def __call__(self, messages: list[dict], generation_prompt: bool = True) -> list[int]:
        result = (self.chat if generation_prompt else self.block)(messages=messages)
        return self.llama.tokenize(result.prompt.encode(), add_bos=not result.added_special, special=True)

    def check(self, messages: list[dict]) -> None:
        """Fail loudly if the count here and llama-cpp-python's own usage count ever disagree."""
        usage = self.llama.create_chat_completion(messages=messages, max_tokens=1)["usage"]["prompt_tokens"]
        here = len(self(messages))
        if usage != here:
            raise SystemExit(f"token count mismatch: {here} here, {usage} in create_chat_completion's usage")


def common_prefix(a: list[int], b: list[int]) -> int:
    return Llama.longest_token_prefix(a, b)


def count_tokens(turn: Turn, tokens: PromptTokens) -> dict:
    full = tokens(turn.messages)
    system = common_prefix(full, tokens(turn.messages[:1], generation_prompt=False))
    reused = common_prefix(full, tokens(turn.previous))
    total = len(full)
    return {"system": system, "tail": total - system, "total": total, "cached_new": total - reused}


# -- time to first token -------------------------------------------------------------------------------


def first_token_ms(llm: LlamaLlm, messages: list[dict]) -> float:
    """Milliseconds to the first non-empty content piece, with the server's sampling settings."""
    start = time.perf_counter()
    chunks = llm._model.create_chat_completion(
        messages=messages, stream=True, max_tokens=llm.max_tokens, temperature=llm.temperature
    )
    try:
        for chunk in chunks:
            if chunk["choices"][0]["delta"].get("content"):
                break
    finally:
        chunks.close()
    return (time.perf_counter() - start) * 1000


def timed(llm: LlamaLlm, turn: Turn, condition: str) -> float:
    if condition == "cold":
        llm._model.reset()
    else:
        first_token_ms(llm, turn.previous)
    return first_token_ms(llm, turn.messages)


def measure(llm: LlamaLlm, timed_rows: list[tuple[Turn, dict]], repeat: int) -> None:
    """One timing per condition for each turn, added to its row; the order flips every turn and repeat."""
    for index, (turn, row) in enumerate(timed_rows):
        order = CONDITIONS if (repeat + index) % 2 == 0 else CONDITIONS[::-1]
        for condition in order:
            row[f"{condition}_ms"].append(round(timed(llm, turn, condition), 2))


def first_of_each_step(timed_rows: list[tuple[Turn, dict]]) -> list[tuple[Turn, dict]]:
    chosen: dict[tuple[str, str], tuple[Turn, dict]] = {}
    for turn, row in timed_rows:
        chosen.setdefault((turn.lesson, turn.step), (turn, row))
    return list(chosen.values())


# -- report --------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summary(rows: list[dict]) -> dict:
    cold = [ms for row in rows for ms in row["cold_ms"]]
    cached = [ms for row in rows for ms in row["cached_ms"]]
    entry = {"generates": len(rows), "timed": sum(bool(row["cold_ms"]) for row in rows),
             "system_max": max(row["system"] for row in rows)}
    for part in ("tail", "total", "cached_new"):
        entry[f"{part}_p50"] = percentile([row[part] for row in rows], 50)
        entry[f"{part}_max"] = max(row[part] for row in rows)
    entry.update({"cold_p50": percentile(cold, 50), "cold_p95": percentile(cold, 95),
                  "cached_p50": percentile(cached, 50), "cached_p95": percentile(cached, 95)})
    # Each cached timing is paired with the cold one taken next to it, under the same machine load.
    ratios = [hot / cold for row in rows for hot, cold in zip(row["cached_ms"], row["cold_ms"])]
    entry["cached_over_cold"] = round(float(np.median(ratios)), 2) if ratios else None
    return entry


def grouped(rows: list[dict], key: str) -> dict[str, dict]:
    groups = defaultdict(list)
    for row in rows:
        groups[row[key]].append(row)
    return {name: summary(members) for name, members in groups.items()} | {"all": summary(rows)}


def print_table(title: str, table: dict[str, dict], columns: list[str]) -> None:
    widths = [max(len(column), 6) + 2 for column in columns]
    print(f"\n{title:<20}" + "".join(f"{column:>{width}}" for column, width in zip(columns, widths)))
    for name, entry in table.items():
        cells = (f"{entry[column]!s:>{width}}" for column, width in zip(columns, widths))
        print(f"{name:<20}" + "".join(cells))


# -- main ----------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lesson", nargs="+", help="lesson ids (default: every shipped lesson)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per condition per Generate")
    parser.add_argument("--quick", action="store_true",
                        help=f"one lesson ({QUICK_LESSON} unless --lesson), 3 repeats, the first Generate "
                        "of each step timed")
    parser.add_argument("--out", type=Path,
                        help="default bench/results/lesson_prompt.json (lesson_prompt_quick.json if --quick)")
    args = parser.parse_args()
    if args.quick:
        args.lesson, args.repeats = (args.lesson or [QUICK_LESSON])[:1], 3
    if args.out is None:
        args.out = ROOT / "bench" / "results" / f"lesson_prompt{'_quick' if args.quick else ''}.json"
    return args


def lesson_turns(lesson_ids: list[str] | None) -> list[Turn]:
    lessons, problems = load_folder(ROOT / "curriculum" / "lessons")
    if problems:
        raise SystemExit("\n".join(str(problem) for problem in problems))
    return [turn for lesson_id in lesson_ids or sorted(lessons) for turn in walk(lessons[lesson_id])]


def empty_row(turn: Turn, tokens: PromptTokens) -> dict:
    return {"lesson": turn.lesson, "step": turn.step, "step_type": turn.step_type,
            **count_tokens(turn, tokens), **{f"{condition}_ms": [] for condition in CONDITIONS}}


def build_report(rows: list[dict], repeats: int, settings: Settings, wall_s: float) -> dict:
    return {"by_step_type": grouped(rows, "step_type"), "by_lesson": grouped(rows, "lesson"),
            "generates": rows, "repeats": repeats, "threads": settings.llm.threads,
            "context": settings.llm.context, "max_tokens": settings.llm.max_tokens, "cpu_count": os.cpu_count(),
            "wall_s": wall_s}


def print_report(report: dict) -> None:
    print_table("step type", report["by_step_type"], ["generates", "system_max", "tail_p50", "tail_max",
                                                      "total_p50", "total_max", "cached_new_p50", "cold_p50",
                                                      "cached_p50", "cached_over_cold"])
    print_table("lesson", report["by_lesson"], ["generates", "timed", "system_max", "tail_max", "total_max",
                                                "cached_new_max", "cold_p50", "cold_p95", "cached_p50",
                                                "cached_p95", "cached_over_cold"])
    print(f"\ntokens: system = the lesson's system prompt block, tail = the rest, cached_new = what is "
          f"evaluated with the previous step's prompt cached; the context is {report['context']}")
    print(f"time to first token (ms) over {report['repeats']} repeats; {report['wall_s']} s in all")


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    turns = lesson_turns(args.lesson)
    settings = Settings()
    llm = build_llm(settings)
    if not isinstance(llm, LlamaLlm):
        raise SystemExit("this benchmark needs the embedded LLM (llm.backend = embedded)")
    tokens = PromptTokens(llm._model)
    tokens.check(turns[0].messages)
    rows = [empty_row(turn, tokens) for turn in turns]
    timed_rows = list(zip(turns, rows))
    if args.quick:
        timed_rows = first_of_each_step(timed_rows)

    print(f"{len(turns)} Generates, {len(timed_rows)} timed; {args.repeats} repeats x {len(CONDITIONS)} "
          f"conditions; {settings.llm.threads} threads, n_batch {llm._model.n_batch}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for repeat in range(args.repeats):
        measure(llm, timed_rows, repeat)
        # written after every repeat, so an interrupted run keeps the repeats it finished
        report = build_report(rows, repeat + 1, settings, round(time.perf_counter() - started, 1))
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
        print(f"  repeat {repeat + 1}/{args.repeats}: {report['wall_s']:.0f} s, written", flush=True)
    llm.close()
    print_report(report)


if __name__ == "__main__":
    main()
