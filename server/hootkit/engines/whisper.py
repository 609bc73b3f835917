"""faster-whisper speech-to-text with an encoder window fitted to the utterance.

Whisper normally encodes a 30 s window however short the question. CTranslate2 accepts a
shorter mel window, and the encoder's cost falls with it (on the 2-core test machine: 0.75 s for
30 s, 0.07 s for 5 s). Windows are the utterance plus 1 s, at least 3 s: in bench/stt_window.py
that scored the same as the full window on spoken and child-like questions, while 2 s windows
started to repeat themselves.
"""

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer

from hootkit.engines.base import STT_RATE, Transcript
from hootkit.engines.executor import FairExecutor

FRAMES_PER_SECOND = 100
MAX_WINDOW_S = 30
MAX_HINT_TOKENS = 80
MAX_HINTS, MAX_HINT_CHARS = 50, 40
HINTED_NOISE_SCORE = -2.0  # hints make Whisper "hear" a hint word in noise, at a far worse score than speech
REPETITION_PENALTY = 1.15  # bench/hearing.py (dev): WER 41.9 -> 34.7 %, keywords unchanged
# Whisper writes Mandarin in traditional or simplified characters; earlier text in simplified ones tips it.
ZH_LEAD = "以下是普通话的句子。"
TRADITIONAL = str.maketrans("话", "話")  # the lead's only character written differently


class WhisperStt:
    """Greedy decoding without timestamps on a resident model, run on its fair worker.

    `language` "auto" guesses among `candidates` (a classroom's languages; none: any language). Hints (a lesson's
    vocabulary) go in as the text before the utterance, which makes Whisper expect those words.
    """

    def __init__(
        self,
        model_path: Path,
        language: str,
        compute_type: str,
        threads: int,
        beam_size: int,
        min_window_s: float = 3.0,
        pad_s: float = 1.0,
        candidates: Sequence[str] = (),
    ):
        self.language = language
        self.candidates = tuple(candidates)
        self.beam_size = beam_size
        self.min_window_s = min_window_s
        self.pad_s = pad_s
        self._whisper = WhisperModel(str(model_path), device="cpu", compute_type=compute_type, cpu_threads=threads)
        self._executor = FairExecutor("stt")

    async def transcribe(self, pcm: np.ndarray, key: str, hints: Sequence[str] = ()) -> Transcript:
        return await self._executor.run(key, self.transcribe_now, pcm, hints)

    def window_frames(self, samples: int) -> int:
        seconds = min(MAX_WINDOW_S, max(self.min_window_s, math.ceil(samples / STT_RATE + self.pad_s)))
        return int(seconds * FRAMES_PER_SECOND)

    def transcribe_now(self, pcm: np.ndarray, hints: Sequence[str] = ()) -> Transcript:
        """Blocking transcription of float32 mono audio at 16 kHz (the last 30 s if longer)."""
        pcm = pcm[-MAX_WINDOW_S * STT_RATE :]
        frames = self.window_frames(len(pcm))
        features = self._whisper.feature_extractor(pcm)[:, :frames]
        features = np.pad(features, ((0, 0), (0, frames - features.shape[1])))[np.newaxis]
        model = self._whisper.model
        encoded = model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features, dtype=np.float32)), to_cpu=False)
        language = self._language(encoded)
        tokenizer = Tokenizer(self._whisper.hf_tokenizer, model.is_multilingual, task="transcribe", language=language)
        prompt = self._earlier_text(tokenizer, language, hints) + list(tokenizer.sot_sequence) + [tokenizer.no_timestamps]
        audio_s = len(pcm) / STT_RATE
        result = model.generate(
            encoded,
            [prompt],
            beam_size=self.beam_size,
            max_length=len(prompt) + 8 + int(6 * audio_s),
            suppress_blank=True,
            suppress_tokens=[-1],
            no_repeat_ngram_size=4,
            repetition_penalty=REPETITION_PENALTY,
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        tokens = [token for token in result.sequences_ids[0] if token < tokenizer.eot]
        text = drop_echo(drop_lead(tokenizer.decode(tokens).strip(), ZH_LEAD if language == "zh" else ""))
        if heard_nothing(result.no_speech_prob, result.scores[0], hinted=bool(hints)):
            text = ""
        return Transcript(text=text, language=language, audio_s=audio_s)

    def _language(self, encoded) -> str:
        if not self._whisper.model.is_multilingual:
            return "en"
        if self.language != "auto":
            return self.language
        ranked = [token[2:-2] for token, _prob in self._whisper.model.detect_language(encoded)[0]]
        return next((code for code in ranked if not self.candidates or code in self.candidates), ranked[0])

    @staticmethod
    def _earlier_text(tokenizer: Tokenizer, language: str, hints: Sequence[str]) -> list[int]:
        """The `<|startofprev|>` prompt: the hint words (and, for Mandarin, a line in simplified characters)."""
        lead = ZH_LEAD if language == "zh" else ""
        words = ("，" if language == "zh" else ", ").join(word[:MAX_HINT_CHARS] for word in list(hints)[:MAX_HINTS])
        text = (lead + words).strip()
        if not text:
            return []
        tokens = tokenizer.encode(" " + text if language != "zh" else text)
        tokens = [token for token in tokens if token < tokenizer.eot][:MAX_HINT_TOKENS]  # text only, no control tokens
        return [tokenizer.sot_prev, *tokens]

    def close(self) -> None:
        self._executor.close()


def heard_nothing(no_speech_prob: float, score: float, hinted: bool) -> bool:
    """Whisper's "no speech" and its average log-probability together say the audio held no words."""
    return (no_speech_prob > 0.6 and score < -1.0) or (hinted and score < HINTED_NOISE_SCORE)


def drop_lead(text: str, lead: str) -> str:
    """Cut the line given as earlier text when Whisper writes it out again (in either script), before or instead of
    what it heard."""
    bare = re.sub(r"\W+$", "", lead)
    if not bare:
        return text
    for written in (bare, bare.translate(TRADITIONAL)):
        if text.startswith(written):
            return re.sub(r"^\W+", "", text[len(written):])
    return text


def drop_echo(text: str) -> str:
    """Cut a trailing restart of an earlier sentence ("Are you real? Are you", "Why is it big? Why is it
    bi"), a habit of short windows and of hint prompts; a new question ("What is a verb?") stays."""
    kept: list[str] = []
    earlier: list[list[str]] = []
    for sentence in re.findall(r"[^.?!]+[.?!]*", text):
        words = re.findall(r"[\w']+", sentence.lower())
        if words and any(_restarts(words, before) for before in earlier):
            break
        kept.append(sentence)
        earlier.append(words)
    return "".join(kept).strip()


def _restarts(words: list[str], before: list[str]) -> bool:
    """`words` begin `before` again: all of them (the last perhaps cut short), or its first four or more."""
    shared = len(os.path.commonprefix([words, before]))
    cut_short = shared == len(words) - 1 < len(before) and before[shared].startswith(words[-1])
    return shared == len(words) or cut_short or shared >= 4
