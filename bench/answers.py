"""Answer quality through the real server: % right, % confidently wrong, % honest "not sure", length, VTV, RSS.

Each question of an evaluation set (bench/answers/dev.jsonl to tune on, bench/answers/heldout.jsonl for
results; JSON Lines with question, lang, topic, accept, reject, expect) is asked through a device
connection over the real websocket, and the reply is graded by the set's rules:
- right: every accept regex matches and no reject regex does (for an `unsure` question: an honest
  "not sure");
- honest: not right, but says it is not sure;
- confidently wrong: the rest.

Modes:
- text: the server runs in this process with the real LLM, knowledge base and guards; speech-to-text
  returns the question's text and the voice is a silent stand-in, so only thinking is measured;
- spoken: `hoot serve` with the embedded models in its own process; each English question is spoken
  by piper (joe) and by espeak-ng voices, like `hoot talk`. (Mandarin questions are text-only until the
  server guesses the language of free speech.)

For each model configuration it prints a table and writes JSON (bench/results/answers-<set>-<mode>.json).
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
SETS = {"dev": ROOT / "bench" / "answers" / "dev.jsonl", "heldout": ROOT / "bench" / "answers" / "heldout.jsonl"}
UNSURE = re.compile(
    r"not sure|don't know|do not know|can't know|cannot know|no way to know|can't tell|find out together|not certain"
    r"|不知道|不确定|不清楚|没法知道|无法知道|一起查|问问大人|问大人",
    re.IGNORECASE,
)
ESPEAK_VOICES = ["en-us", "en-us+f3", "en-gb+m3", "en-us+f4"]


def load_set(name: str, languages: set[str], limit: int | None) -> list[dict]:
    path = SETS.get(name, Path(name))
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [item for item in items if item["lang"] in languages]
    return items[:limit] if limit else items


def grade(item: dict, reply: str) -> str:
    """right, honest (says it is not sure) or wrong (confidently)."""
    accepted = all(re.search(rule, reply, re.IGNORECASE) for rule in item["accept"])
    rejected = any(re.search(rule, reply, re.IGNORECASE) for rule in item.get("reject", []))
    unsure = bool(UNSURE.search(reply))
    if item.get("expect") == "unsure":
        return "right" if accepted or unsure else "wrong"
    if accepted and not rejected:
        return "right"
    return "honest" if unsure else "wrong"


def reply_words(text: str) -> float:
    from hootkit.pipeline.clauses import words

    return words(text)


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def rss_mb(pid: int | None = None) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = round(int(value.split()[0]) / 1024, 1)
    return fields


async def ask_text(items: list[dict], model: str, settings_overrides: dict) -> tuple[list[dict], dict]:
    """Text mode: the real LLM, knowledge and guards behind the real websocket; STT and TTS stand-ins."""
    from hootkit.app import create_app
    from hootkit.client.device import DeviceClient
    from hootkit.engines.fakes import EnergyVad, FakeStt, FakeTts
    from hootkit.engines.registry import Engines, build_encoder, build_guards, build_knowledge, build_llm
    from hootkit.pipeline.prompt import Conversation
    from hootkit.serving import serve_in_loop
    from hootkit.settings import Settings

    settings = Settings(llm={"model": model, **settings_overrides.get("llm", {})}, warmup=False, watch_lessons=False,
                        **{k: v for k, v in settings_overrides.items() if k != "llm"})
    encoder = build_encoder()
    stt = FakeStt("")
    engines = Engines(vad=EnergyVad(), stt=stt, llm=build_llm(settings), tts=FakeTts(),
                      guards=build_guards(settings, encoder), knowledge=build_knowledge(settings, encoder))
    await engines.warmup(Conversation(0).messages("Hello!"))
    tone = (0.3 * np.sin(2 * np.pi * 300 * np.arange(int(0.6 * 16000)) / 16000) * 32767).astype(np.int16)
    question_audio = np.concatenate([np.zeros(3200, np.int16), tone])
    rows = []
    try:
        async with serve_in_loop(create_app(settings, engines)) as url:
            for item in items:
                stt.text = item["question"]
                async with DeviceClient(url) as client:
                    result = await client.ask(question_audio)
                rows.append(_row(item, result.reply, result.parts.get("server_vtv"), None, result.parts))
                print(f"  {rows[-1]['grade']:<6} {item['question']!r} -> {result.reply!r}", flush=True)
    finally:
        await engines.close()
    return rows, rss_mb()


def spoken_audio(question: str, index: int) -> tuple[str, np.ndarray]:
    """The question in a piper voice (even items) or an espeak-ng voice (odd items), 16 kHz int16."""
    from hootkit.client.speech import espeak_speech, speak

    if index % 2 == 0 or shutil.which("espeak-ng") is None:  # apt-get install espeak-ng for the second voice
        return "piper-joe", speak(question)
    voice = ESPEAK_VOICES[(index // 2) % len(ESPEAK_VOICES)]
    lead = np.zeros(4800, np.float32)
    return f"espeak-{voice}", (np.concatenate([lead, espeak_speech(question, voice)]) * 0.8 * 32767).astype(np.int16)


async def ask_spoken(items: list[dict], model: str, env_overrides: dict) -> tuple[list[dict], dict]:
    """Spoken mode: `hoot serve` with the embedded models; each question spoken like `hoot talk` does."""
    from vtv import free_port, start_server

    from hootkit.client.device import DeviceClient

    port = free_port()
    process, ready_s = start_server(port, {"HOOT_LLM__MODEL": model, **env_overrides})
    url = f"ws://127.0.0.1:{port}/v1/device"
    rows = []
    try:
        for index, item in enumerate(items):
            voice, audio = spoken_audio(item["question"], index)
            async with DeviceClient(url) as client:
                result = await client.ask(np.concatenate([audio, np.zeros(1600, np.int16)]))
            report = result.to_json()
            row = _row(item, result.reply, report["vtv_ms"], report["reply_audio_s"], report["parts"])
            row.update(voice=voice, heard=result.transcript)
            rows.append(row)
            print(f"  {row['grade']:<6} {voice:<16} heard {result.transcript!r} -> {result.reply!r} "
                  f"({report['vtv_ms']} ms)", flush=True)
        memory = rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    memory["ready_s"] = round(ready_s, 1)
    return rows, memory


def _row(item: dict, reply: str, vtv_ms, audio_s, parts: dict) -> dict:
    return {"id": item["id"], "lang": item["lang"], "topic": item["topic"], "expect": item.get("expect", "answer"),
            "question": item["question"], "reply": reply, "grade": grade(item, reply), "words": reply_words(reply),
            "vtv_ms": vtv_ms, "reply_audio_s": audio_s, "parts": parts}


def summarise(model: str, rows: list[dict], memory: dict) -> list[dict]:
    table = []
    for language in sorted({row["lang"] for row in rows}) + ["all"]:
        chosen = [row for row in rows if language in ("all", row["lang"])]
        if not chosen:
            continue
        factual = [row for row in chosen if row["expect"] == "answer"]
        vtv = [row["vtv_ms"] for row in chosen if row["vtv_ms"] is not None]
        audio = [row["reply_audio_s"] for row in chosen if row["reply_audio_s"] is not None]
        count = len(chosen)
        table.append({
            "model": model, "lang": language, "questions": count,
            "right_pct": round(100 * sum(r["grade"] == "right" for r in chosen) / count, 1),
            "wrong_pct": round(100 * sum(r["grade"] == "wrong" for r in chosen) / count, 1),
            "honest_pct": round(100 * sum(r["grade"] == "honest" for r in chosen) / count, 1),
            "words_p50": percentile([r["words"] for r in factual], 50),
            "words_p95": percentile([r["words"] for r in factual], 95),
            "audio_s_p50": percentile(audio, 50), "vtv_p50": percentile(vtv, 50), "vtv_p95": percentile(vtv, 95),
            "rss_mb": memory.get("VmHWM"),
        })
    return table


def print_table(table: list[dict]) -> None:
    columns = ["model", "lang", "questions", "right_pct", "wrong_pct", "honest_pct", "words_p50", "words_p95",
               "audio_s_p50", "vtv_p50", "vtv_p95", "rss_mb"]
    print(" ".join(f"{column:>18}" for column in columns))
    for entry in table:
        print(" ".join(f"{entry[column]!s:>18}" for column in columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="dev", help="dev, heldout or a path to a JSON Lines set")
    parser.add_argument("--mode", choices=["text", "spoken"], default="text")
    parser.add_argument("--models", default="embedded", help="comma-separated llm.model values, e.g. embedded,smollm2-135m")
    parser.add_argument("--languages", default="en,zh")
    parser.add_argument("--limit", type=int, help="only the first N questions (quick checks)")
    parser.add_argument("--no-knowledge", action="store_true", help="ask without the knowledge base (its effect)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    languages = set(args.languages.split(","))
    if args.mode == "spoken":
        languages &= {"en"}
    items = load_set(args.set, languages, args.limit)
    overrides = {"knowledge_dirs": []} if args.no_knowledge else {}
    results, table = {}, []
    for model in args.models.split(","):
        print(f"{model}: {len(items)} questions from {args.set}, {args.mode} mode", flush=True)
        started = time.perf_counter()
        if args.mode == "text":
            rows, memory = asyncio.run(ask_text(items, model, overrides))
        else:
            env = {"HOOT_KNOWLEDGE_DIRS": "[]"} if args.no_knowledge else {}
            rows, memory = asyncio.run(ask_spoken(items, model, env))
        summary = summarise(model, rows, memory)
        table += summary
        results[model] = {"summary": summary, "rows": rows, "memory_mb": memory,
                          "seconds": round(time.perf_counter() - started, 1)}
        print_table(summary)
    print()
    print_table(table)
    out = args.out or ROOT / "bench" / "results" / f"answers-{Path(args.set).stem}-{args.mode}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"set": args.set, "mode": args.mode, "knowledge": not args.no_knowledge,
                               "summary": table, "models": results, "cpu_count": os.cpu_count(),
                               "median_vtv_ms": {m: statistics.median([r["vtv_ms"] for r in v["rows"] if r["vtv_ms"]] or [0])
                                                 for m, v in results.items()}}, indent=2, ensure_ascii=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
