"""Hearing children: keyword accuracy, WER, cut-offs, VTV, STT time and RSS on child-like test speech.

Utterances come from bench/hearing/{dev,heldout}.jsonl (written blind; tune on dev, report held-out),
spoken by every offline voice (piper joe; espeak-ng English voices with +f/+m variants; Mandarin
by espeak-ng from pinyin), made child-like (pitch +250..600 cents, tempo 0.9..1.15), then each item
twice: once finished (clean, babble or fan noise at 20/10/5 dB SNR, or with hesitations) and once
with a 400-1200 ms pause mid-sentence.

--mode stt compares speech-to-text configurations in this process on the finished utterances
(model, compute type, beam, vocabulary hints). --mode server runs `hoot serve` per configuration
(settings as HOOT_* variables) and speaks every utterance through the real websocket at real-time
pace: a reply whose words were settled (the turn committed for good) before the last voiced sample was
sent is a cut-off, since it answers part of the question. --mode turn-end makes
the server's "finished?" judgement offline at the first short silence, for each pair of turn-words and
end-of-turn thresholds, and the silence each judgement then waits (graded by the turn-words model's doubt).
Prints a table and writes JSON to bench/results/hearing-<set>-<mode>.json.
"""

import argparse
import asyncio
import json
import re
import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import hearing_audio as ha  # noqa: E402

HERE = Path(__file__).parent
FINISHED_CONDITIONS = ["clean", "babble-20", "fan-20", "babble-10", "fan-10", "babble-5", "fan-5", "hesitation"]
STT_CONFIGS = {
    "tiny.en int8 b1": {"language": "en", "compute_type": "int8", "beam": 1},
    "tiny.en f32 b1": {"language": "en", "compute_type": "float32", "beam": 1},
    "tiny.en int8 b2": {"language": "en", "compute_type": "int8", "beam": 2},
    "base auto int8 b1": {"language": "auto", "compute_type": "int8", "beam": 1},
    "base auto f32 b1": {"language": "auto", "compute_type": "float32", "beam": 1},
    "base auto int8 b2": {"language": "auto", "compute_type": "int8", "beam": 2},
    "tiny.en int8 b1 +lesson words": {"language": "en", "compute_type": "int8", "beam": 1, "hints": "lesson"},
    "tiny.en int8 b1 +knowledge words": {"language": "en", "compute_type": "int8", "beam": 1, "hints": "knowledge"},
    "base auto int8 b1 +lesson words": {"language": "auto", "compute_type": "int8", "beam": 1, "hints": "lesson"},
    "base auto f32 b1 +lesson words": {"language": "auto", "compute_type": "float32", "beam": 1, "hints": "lesson"},
    "base auto f32 b1 +knowledge words": {"language": "auto", "compute_type": "float32", "beam": 1, "hints": "knowledge"},
}
SERVER_CONFIGS = {
    "default": {},
    "no taking back (stop 31's default)": {"HOOT_VAD__TAKE_BACK": "false"},
    "transcript only (no end-of-turn model)": {"HOOT_VAD__END_OF_TURN_MODEL": "off"},
    "dangling words only (no turn-words model)": {"HOOT_VAD__TURN_WORDS_MODEL": "off"},
    "turn-words model without graded wait": {"HOOT_VAD__TURN_WORDS_SURE": "0.5"},
    "graded wait with a 1.5 s longest silence": {"HOOT_VAD__SILENCE_MS": "1500"},
    "fixed 320 ms silence (before)": {"HOOT_VAD__QUIET_MS": "320", "HOOT_VAD__SILENCE_MS": "320", "HOOT_VAD__END_OF_TURN_MODEL": "off"},
}
NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


# --- the utterances ----------------------------------------------------------------------------------


def load_set(name: str, limit: int | None, langs: set[str]) -> list[dict]:
    items = [json.loads(line) for line in (HERE / "hearing" / f"{name}.jsonl").read_text().splitlines() if line.strip()]
    items = [item for item in items if item["lang"] in langs]
    return items[:limit] if limit else items


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _spoken(text: str, lang: str) -> str:
    """What the voice reads: Mandarin as numbered pinyin, since espeak-ng's Mandarin reads that, not characters."""
    if lang != "zh":
        return text
    from pypinyin import Style, lazy_pinyin

    return " ".join(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True))


def voices_for(lang: str) -> list[str]:
    if lang == "en":
        return ha.available_voices("en")
    return ha.available_voices("zh")


def make_utterances(items: list[dict]) -> list[dict]:
    """Each item twice, finished and paused, in a voice, pitch and tempo picked from its id."""
    voices = {lang: voices_for(lang) for lang in {item["lang"] for item in items}}
    pool = [ha.synthesize(_spoken(item["text"], item["lang"]), voices[item["lang"]][0]) for item in items[:8]]
    utterances = []
    for index, item in enumerate(items):
        lang = item["lang"]
        rng = _rng(item["id"])
        voice = _pick_voice(voices[lang], index, rng)
        cents, tempo = float(rng.uniform(250, 600)), float(rng.uniform(0.9, 1.15))
        condition = FINISHED_CONDITIONS[index % len(FINISHED_CONDITIONS)]
        said = item["text"]
        if condition == "hesitation":
            said = ha.hesitant_text(item["text"], rng)
        speech = ha.child_like(ha.synthesize(_spoken(said, lang), voice), cents, tempo)
        audio, last_voiced = ha.frame(speech, rng=rng)
        if condition != "clean" and condition != "hesitation":
            kind, snr = condition.split("-")
            noise = ha.fan_noise(len(audio), rng) if kind == "fan" else ha.babble(len(audio), rng, [p for p in pool if p is not speech])
            audio = ha.mix_at_snr(audio, noise, float(snr))
        base = {"id": item["id"], "lang": lang, "text": item["text"], "keywords": item["keywords"], "voice": voice,
                "cents": round(cents), "tempo": round(tempo, 2)}
        utterances.append({**base, "kind": "finished", "condition": condition, "audio": audio, "last_voiced": last_voiced})
        pause_ms = float(rng.uniform(400, 1200))
        split_at = _split_point(item)
        if lang == "en":
            paused, _ = ha.with_pause(item["text"], split_at, voice, pause_ms, rng)
        else:
            paused = _paused_zh(item, split_at, voice, pause_ms, rng)
        audio, last_voiced = ha.frame(ha.child_like(paused, cents, tempo), rng=rng)
        utterances.append({**base, "kind": "paused", "condition": f"pause-{int(pause_ms / tempo)}ms", "audio": audio,
                           "last_voiced": last_voiced})
    return utterances


def _pick_voice(voices: list[str], index: int, rng) -> str:
    """Every other utterance in a piper voice (the most natural we have), the rest in any espeak-ng variant."""
    piper = [v for v in voices if v.startswith("piper")]
    espeak = [v for v in voices if not v.startswith("piper")]
    family = piper if (index % 2 == 0 and piper) or not espeak else espeak
    return family[int(rng.integers(len(family)))]


def _split_point(item: dict) -> int:
    units = item["text"].split() if item["lang"] == "en" else list(item["text"])
    return min(max(1, int(item["split_at"])), len(units) - 1)


def _paused_zh(item: dict, split_at: int, voice: str, pause_ms: float, rng) -> np.ndarray:
    before = ha.synthesize(_spoken(item["text"][:split_at], "zh"), voice)
    after = ha.synthesize(_spoken(item["text"][split_at:], "zh"), voice)
    return np.concatenate([before, ha.room_noise(int(pause_ms * ha.RATE / 1000), rng), after])


# --- scoring -------------------------------------------------------------------------------------------


def _number_words(match: re.Match) -> str:
    value = int(match.group())
    if value < 20:
        return NUMBERS[value]
    if value < 100:
        return TENS[value // 10] + ("" if value % 10 == 0 else " " + NUMBERS[value % 10])
    return match.group()


def normalise(text: str, lang: str) -> str:
    if lang == "zh":
        from zhconv import convert

        return re.sub(r"[\s，。？！,.?!、]", "", convert(text, "zh-cn"))
    text = re.sub(r"\d+", _number_words, text.lower().replace("-", " "))
    return " ".join(re.findall(r"[a-z']+", text))


def keyword_hits(item: dict, transcript: str) -> tuple[int, int]:
    heard = normalise(transcript, item["lang"])
    if item["lang"] == "zh":
        return sum(normalise(word, "zh") in heard for word in item["keywords"]), len(item["keywords"])
    words = set(heard.split())
    hits = sum(all(part in words or part + "s" in words or part.rstrip("s") in words for part in normalise(k, "en").split())
               for k in item["keywords"])
    return hits, len(item["keywords"])


def error_rate(item: dict, transcript: str) -> tuple[int, int]:
    """Word errors (characters for Mandarin) and the reference length."""
    ref = normalise(item["text"], item["lang"])
    hyp = normalise(transcript, item["lang"])
    ref, hyp = (list(ref), list(hyp)) if item["lang"] == "zh" else (ref.split(), hyp.split())
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1], len(ref)


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summarise(config: str, rows: list[dict], extra: dict) -> list[dict]:
    """One table row per (language, kind, noise level) group, plus overall groups."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        level = row["condition"] if row["kind"] == "finished" else "pause 400-1200 ms"
        level = {"babble-20": "20 dB", "fan-20": "20 dB", "babble-10": "10 dB", "fan-10": "10 dB",
                 "babble-5": "5 dB", "fan-5": "5 dB"}.get(level, level)
        family = row["voice"].split("-")[0]
        keys = [f"{row['lang']} {level}", f"{row['lang']} {family} voices", f"{row['lang']} all"]
        if row["kind"] == "finished" and level != "5 dB":
            keys.append(f"{row['lang']} all finished >=10 dB")
        for key in keys:
            groups.setdefault(key, []).append(row)
    table = []
    for key in sorted(groups):
        group = groups[key]
        hits, total = map(sum, zip(*[(r["hits"], r["keywords"]) for r in group]))
        errors, length = map(sum, zip(*[(r["errors"], r["ref_len"]) for r in group]))
        vtv = [r["vtv_ms"] for r in group if r.get("vtv_ms") is not None and r["kind"] == "finished"]
        cut = [r for r in group if r.get("cut_off") is not None]
        table.append({
            "config": config, "group": key, "n": len(group),
            "keyword_acc_%": round(100 * hits / total, 1), "wer_%": round(100 * errors / max(length, 1), 1),
            "cut_off_%": percent([r["cut_off"] for r in cut]),
            "vtv_p50_ms": pct(vtv, 50), "vtv_p95_ms": pct(vtv, 95),
            "stt_p50_ms": pct([r["stt_ms"] for r in group if r.get("stt_ms") is not None], 50), **extra,
        })
    return table


def print_table(table: list[dict]) -> None:
    columns = list(table[0]) if table else []
    print(" | ".join(columns))
    for row in table:
        print(" | ".join("" if row[c] is None else str(row[c]) for c in columns))


# --- in-process speech-to-text --------------------------------------------------------------------------


def knowledge_words(count: int = 40) -> list[str]:
    """The knowledge base's most frequent long words: a vocabulary for free chat with no lesson."""
    from collections import Counter

    from hootkit.knowledge.facts import load_folders
    from hootkit.settings import Settings

    counts: Counter = Counter()
    for folder in Settings().knowledge_dirs:
        facts, _ = load_folders(folder)
        counts.update(w for fact in facts for w in re.findall(r"[A-Za-z]{7,}", fact.fact.lower()))
    return [word for word, _ in counts.most_common(count)]


def lesson_words(u: dict, others: list[str], rng) -> list[str]:
    """A lesson's vocabulary that holds this utterance's keywords among a dozen other words."""
    words = list(u["keywords"]) + list(rng.choice(others, size=min(12, len(others)), replace=False))
    rng.shuffle(words)
    return words


def run_stt(utterances: list[dict], configs: list[str]) -> tuple[list[dict], list[dict]]:
    """Each configuration built as the server builds it (tiny.en for "en", Whisper base for "auto")."""
    from hootkit.engines.registry import build_stt
    from hootkit.settings import Settings

    table, all_rows = [], []
    finished = [u for u in utterances if u["kind"] == "finished"]
    knowledge = knowledge_words()
    for name in configs:
        cfg = STT_CONFIGS[name]
        settings = Settings(stt={"language": cfg["language"], "compute_type": cfg["compute_type"], "beam_size": cfg["beam"]})
        stt = build_stt(settings)
        stt.transcribe_now(np.zeros(16000, np.float32))
        rows = []
        for u in finished:
            if cfg["language"] == "en" and u["lang"] != "en":
                continue
            pcm = u["audio"][: u["last_voiced"] + int(0.2 * ha.RATE)].astype(np.float32)
            if cfg.get("hints") == "lesson":
                others = sorted({k for o in finished if o["lang"] == u["lang"] and o["id"] != u["id"] for k in o["keywords"]})
                hints = lesson_words(u, others, _rng(u["id"], "hints"))
            else:
                hints = knowledge if cfg.get("hints") == "knowledge" else []
            start = time.perf_counter()
            heard = stt.transcribe_now(pcm, hints)
            rows.append(_scored(u, heard.text, stt_ms=(time.perf_counter() - start) * 1000, language=heard.language))
        stt.close()
        table += summarise(name, rows, {})
        all_rows += [{**row, "config": name} for row in rows]
        print(f"{name}: done", file=sys.stderr)
    return table, all_rows


def _scored(u: dict, transcript: str, **more) -> dict:
    hits, total = keyword_hits(u, transcript)
    errors, length = error_rate(u, transcript)
    return {"id": u["id"], "lang": u["lang"], "kind": u["kind"], "condition": u["condition"], "voice": u["voice"],
            "transcript": transcript, "hits": hits, "keywords": total, "errors": errors, "ref_len": length, **more}


# --- through the server -------------------------------------------------------------------------------


async def ask_all(url: str, utterances: list[dict]) -> list[dict]:
    """Each utterance on a fresh connection, VTV from its true last voiced sample. A cut-off: the server settled
    the words it answered before the child's last word was sent (`TurnResult.cut_off`)."""
    from hootkit.client.device import DeviceClient

    rows = []
    for u in utterances:
        samples = (np.clip(u["audio"], -1, 1) * 32767).astype(np.int16)
        async with DeviceClient(url) as device:
            try:
                turn = await device.ask(samples, abort_after_s=0.2, timeout_s=20, speech_end=u["last_voiced"])
            except TimeoutError:
                rows.append(_scored(u, "", vtv_ms=None, cut_off=False, stt_ms=None, timed_out=True))
                continue
        cut_off = turn.cut_off
        rows.append(_scored(u, turn.transcript or "", vtv_ms=None if cut_off else turn.vtv_ms, cut_off=cut_off,
                            stt_ms=turn.parts.get("stt"), endpoint_ms=turn.parts.get("endpoint_wait")))
    return rows


def run_server(utterances: list[dict], configs: list[str]) -> tuple[list[dict], list[dict]]:
    from vtv import free_port, memory_mb, start_server

    table, all_rows = [], []
    for name in configs:
        port = free_port()
        process, _ = start_server(port, SERVER_CONFIGS[name])
        try:
            rows = asyncio.run(ask_all(f"ws://127.0.0.1:{port}/v1/device", utterances))
            memory = memory_mb(process.pid)
        finally:
            process.terminate()
            process.wait()
        table += summarise(name, rows, {"rss_mb": memory.get("VmHWM")})
        all_rows += [{**row, "config": name} for row in rows]
        print(f"{name}: done", file=sys.stderr)
    return table, all_rows


def run_turn_end(utterances: list[dict]) -> tuple[list[dict], list[dict]]:
    """The "finished?" judgement where the server makes it: at the first `vad.quiet_ms` of silence (Silero,
    as streamed), on everything heard so far: the transcript (default STT) read for dangling words and by the
    turn-words model, and the end-of-turn model on the audio. Finished utterances should be judged finished
    there (answered at once); paused ones are judged in their pause, and "finished" there is a cut-off."""
    from hootkit.engines.base import VAD_WINDOW
    from hootkit.engines.end_of_turn import EndOfTurnModel, packaged_model
    from hootkit.engines.registry import build_stt, build_vad
    from hootkit.pipeline.endpointer import QUIET, Endpointer
    from hootkit.pipeline.turn_end import sounds_unfinished
    from hootkit.settings import Settings

    vad, model, settings = build_vad(), EndOfTurnModel(packaged_model()), Settings().vad
    stt = build_stt(Settings())
    rows = []
    for u in utterances:
        count = len(u["audio"]) // VAD_WINDOW
        windows = u["audio"][: count * VAD_WINDOW].astype(np.float32).reshape(count, VAD_WINDOW)
        endpointer = Endpointer(settings, VAD_WINDOW * 1000 / ha.RATE)
        events = [endpointer.push(prob) for prob in vad.new_stream().speech_probs(windows)]
        quiet_at = next((i for i, fired in enumerate(events) if QUIET in fired), None)
        if quiet_at is None:  # never quiet for long enough (loud noise): the longest silence decides
            continue
        heard = windows[: quiet_at + 1].reshape(-1)
        transcript = stt.transcribe_now(heard).text
        rows.append({"id": u["id"], "lang": u["lang"], "kind": u["kind"], "condition": u["condition"],
                     "transcript": transcript, "dangling": sounds_unfinished(transcript), "audio": model.probability(heard)})
    stt.close()
    return turn_end_table(rows), rows


def percent(flags: list[bool]) -> float | None:
    """The share of true flags in %, None for none (JSON has no NaN)."""
    return round(100 * float(np.mean(flags)), 1) if flags else None


def turn_end_table(rows: list[dict], path: Path | None = None) -> list[dict]:
    """Answered-at-once and cut-off rates for each pair of thresholds (0: that model not asked), with the
    turn-words model at `path` (default: the shipped one); each row gets its `words` score."""
    from hootkit.pipeline.turn_words import WEIGHTS, TurnWords
    from hootkit.safety.semantic import SentenceEncoder

    words = TurnWords(SentenceEncoder(), path or WEIGHTS)
    for row in rows:
        row["words"] = words.probability(row["transcript"])
    table = []
    for words_at in (0.0, 0.3, 0.5, 0.7):
        for audio_at in (0.0, 0.3, 0.5, 0.7):
            said = {kind: [not r["dangling"] and r["words"] >= words_at and r["audio"] >= audio_at
                           for r in rows if r["kind"] == kind] for kind in ("finished", "paused")}
            table.append({"words_threshold": words_at, "audio_threshold": audio_at,
                          "n_finished": len(said["finished"]), "n_paused": len(said["paused"]),
                          "finished_answered_at_once_%": percent(said["finished"]),
                          "paused_cut_off_%": percent(said["paused"])})
    return table


def graded_wait_table(rows: list[dict]) -> list[dict]:
    """The silence each judgement waits (the server's defaults, for each `vad.turn_words_sure`; the threshold
    itself: no grading): finished questions want it short, and a paused one is cut off when its pause is shorter.
    The time the judgement itself takes in the server (about the speech-to-text time) is not counted."""
    from hootkit.pipeline.turn_end import TurnEndJudge
    from hootkit.settings import Settings

    vad = Settings().vad
    if {row["kind"] for row in rows} != {"finished", "paused"}:
        return []  # it weighs the one against the other
    table = []
    for sure in sorted({vad.turn_words_threshold, 0.7, 0.8, 0.9, 1.0}):
        judge = TurnEndJudge(words_threshold=vad.turn_words_threshold, words_sure=sure)
        wait = {}
        for row in rows:
            doubt = 1.0 if row["dangling"] or row["audio"] < vad.end_of_turn_threshold else judge.words_doubt(row["words"])
            wait[row["id"], row["kind"]] = vad.quiet_ms + doubt * (vad.silence_ms - vad.quiet_ms)
        finished = [wait[r["id"], r["kind"]] for r in rows if r["kind"] == "finished"]
        paused = [(wait[r["id"], r["kind"]], int(re.match(r"pause-(\d+)ms", r["condition"]).group(1)))
                  for r in rows if r["kind"] == "paused"]
        table.append({"turn_words_sure": sure, "finished_wait_p50_ms": round(float(np.median(finished))),
                      "finished_wait_mean_ms": round(float(np.mean(finished))),
                      "finished_answered_at_once_%": percent([w <= vad.quiet_ms for w in finished]),
                      "paused_cut_off_%": percent([w < pause for w, pause in paused])})
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["dev", "heldout"], default="dev")
    parser.add_argument("--mode", choices=["stt", "server", "turn-end"], default="server")
    parser.add_argument("--configs", help="comma-separated names (default: all of the mode's)")
    parser.add_argument("--langs", default="en,zh")
    parser.add_argument("--limit", type=int, help="first N items of the set")
    parser.add_argument("--only", choices=["finished", "paused"], help="one kind of utterance")
    args = parser.parse_args()
    items = load_set(args.set, args.limit, set(args.langs.split(",")))
    utterances = make_utterances(items)
    if args.only:
        utterances = [u for u in utterances if u["kind"] == args.only]
    known = {"stt": STT_CONFIGS, "server": SERVER_CONFIGS}.get(args.mode, {})
    configs = args.configs.split(",") if args.configs else list(known)
    rows: list[dict] = []
    if args.mode == "stt":
        table, rows = run_stt(utterances, configs)
    elif args.mode == "turn-end":
        table, rows = run_turn_end(utterances)
    else:
        table, rows = run_server(utterances, configs)
    print_table(table)
    waits = graded_wait_table(rows) if args.mode == "turn-end" else []
    if waits:
        print()
        print_table(waits)
    out = HERE / "results" / f"hearing-{args.set}-{args.mode}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"set": args.set, "mode": args.mode, "utterances": len(utterances),
                               "voices": sorted({u["voice"] for u in utterances}), "table": table, "waits": waits,
                               "rows": rows},
                              ensure_ascii=False, indent=1))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
