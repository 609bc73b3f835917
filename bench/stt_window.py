"""STT window benchmark: Whisper's full 30 s window against the fitted window, same questions, one run.

Prints accuracy (exact match after normalising) and median time per variant for plain and
child-like (pitch-raised, faster) voices, and writes bench/results/stt_window.json.
"""

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

from hootkit.client.speech import speak
from hootkit.engines import models
from hootkit.engines.whisper import WhisperStt

QUESTIONS = [
    "How many legs does a spider have?", "Why is the sky blue?", "What do plants need to grow?",
    "Can you tell me a story about a brave little owl who lives in the forest?", "What is seven times eight?",
    "Where does rain come from?", "Is the sun a star?", "How far away is the moon?",
    "What do you call a baby kangaroo?", "Why do cats purr?", "I think the answer is twelve.", "Are you a real person?",
]
VOICES = {"adult": (1.0, 1.0), "child": (1.25, 0.85), "small child": (1.4, 0.8)}
NUMBERS = {"seven": "7", "eight": "8", "twelve": "12"}


def normalise(text: str) -> str:
    words = re.sub(r"[^a-z0-9 ]", "", text.lower()).split()
    return " ".join(NUMBERS.get(word, word) for word in words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/stt_window.json"))
    args = parser.parse_args()
    fitted = WhisperStt(models.whisper_tiny_en(), "en", "int8", 2, 1)
    full = WhisperStt(models.whisper_tiny_en(), "en", "int8", 2, 1, min_window_s=30)
    rows = []
    for voice, (pitch, length_scale) in VOICES.items():
        for name, engine in (("full 30 s", full), ("fitted", fitted)):
            correct, times = 0, []
            for question in QUESTIONS:
                pcm = speak(question, pitch=pitch, length_scale=length_scale).astype(np.float32) / 32768
                start = time.perf_counter()
                text = engine.transcribe_now(pcm).text
                times.append(time.perf_counter() - start)
                correct += normalise(text) == normalise(question)
            rows.append({"voice": voice, "window": name, "correct": correct, "of": len(QUESTIONS),
                         "median_ms": round(1000 * float(np.median(times)), 1)})
    print(f"{'voice':<12} {'window':<10} {'correct':>8} {'median ms':>10}")
    for row in rows:
        print(f"{row['voice']:<12} {row['window']:<10} {row['correct']:>5}/{row['of']:<2} {row['median_ms']:>10}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    fitted.close()
    full.close()


if __name__ == "__main__":
    main()
