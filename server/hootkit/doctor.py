"""`hoot doctor`: which models and backends are installed, and whether each one really works."""

import asyncio
import time
from pathlib import Path

import numpy as np

from hootkit.engines import models
from hootkit.settings import Settings


def _check(rows: list, name: str, action) -> object:
    start = time.perf_counter()
    try:
        detail = action()
    except Exception as error:  # the doctor reports every failure instead of stopping at the first
        rows.append((name, "FAIL", f"{type(error).__name__}: {error}"))
        return None
    shown = detail if isinstance(detail, (str, Path)) else "loaded"
    rows.append((name, "ok", f"{shown} ({time.perf_counter() - start:.2f} s)"))
    return detail


def run_doctor() -> int:
    settings = Settings()
    rows: list[tuple[str, str, str]] = []
    _check(rows, "vad model", lambda: models.silero_vad())
    if settings.stt.backend == "embedded":
        _check(rows, "stt model", lambda: models.resolve(settings.stt.model, models.whisper_tiny_en))
    if settings.tts.backend == "embedded":
        _check(rows, "tts voice", lambda: models.resolve(settings.tts.voice, models.joe_voice))
    if settings.llm.backend == "embedded":
        _check(rows, "llm model", lambda: models.llm_gguf(settings.llm.model))
    _check(rows, "llama-cpp-python", lambda: __import__("llama_cpp").__version__)

    from hootkit.engines.registry import build_llm, build_stt, build_tts, build_vad

    vad = _check(rows, "vad loads", build_vad)
    if vad:
        _check(rows, "vad runs", lambda: f"p={vad.new_stream().speech_probs(np.zeros(512, np.float32))[0]:.2f} on silence")
    stt = _check(rows, f"stt ({settings.stt.backend}) loads", lambda: build_stt(settings))
    tts = _check(rows, f"tts ({settings.tts.backend}) loads", lambda: build_tts(settings))
    for name, engine, url in (("stt", stt, settings.stt.url), ("tts", tts, settings.tts.url)):
        if engine and hasattr(engine, "health"):  # an engine behind a network: is its server there?
            _check(rows, f"{name} server answers", lambda engine=engine, url=url: asyncio.run(engine.health()) or url)
    if tts and stt:
        async def round_trip() -> str:
            import soxr

            chunks = [chunk async for chunk in tts.synthesize("How many legs does a spider have?", "doctor")]
            speech = np.concatenate(chunks).astype(np.float32) / 32768
            text = (await stt.transcribe(soxr.resample(speech, tts.sample_rate, 16000), "doctor")).text
            if "spider" not in text.lower():
                raise RuntimeError(f"heard {text!r}")
            return f"tts -> stt heard {text!r}"

        _check(rows, "speech round trip", lambda: asyncio.run(round_trip()))
    llm = _check(rows, f"llm ({settings.llm.backend}) loads", lambda: build_llm(settings))
    if llm:
        async def ask() -> str:
            pieces = []
            async for piece in llm.stream([{"role": "user", "content": "Say hello."}], "doctor"):
                pieces.append(piece)
            return "".join(pieces).strip()[:60]

        _check(rows, "llm answers", lambda: repr(asyncio.run(ask())))
    width = max(len(name) for name, _, _ in rows)
    for name, status, detail in rows:
        print(f"{name:<{width}}  {status:<4}  {detail}")
    failed = [name for name, status, _ in rows if status != "ok"]
    print(f"\n{len(rows) - len(failed)} ok, {len(failed)} failed")
    return 1 if failed else 0
