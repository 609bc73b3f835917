"""faster-whisper speech-to-text with an encoder window fitted to the utterance.

Whisper normally encodes a 30 s window however short the question. CTranslate2 accepts a
shorter mel window, and the encoder's cost falls with it (on the 2-core test machine: 0.75 s for
30 s, 0.07 s for 5 s). Windows are the utterance plus 1 s, at least 3 s: in bench/stt_window.py
that scored the same as the full window on spoken and child-like questions, while 2 s windows
started to repeat themselves.
"""

import math
import re
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer

from hootkit.engines.base import STT_RATE, Transcript
from hootkit.engines.executor import FairExecutor

FRAMES_PER_SECOND = 100
MAX_WINDOW_S = 30


class WhisperStt:
    """Greedy decoding without timestamps on a resident model, run on its fair worker."""

    def __init__(
        self,
        model_path: Path,
        language: str,
        compute_type: str,
        threads: int,
        beam_size: int,
        min_window_s: float = 3.0,
        pad_s: float = 1.0,
    ):
        self.language = language
        self.beam_size = beam_size
        self.min_window_s = min_window_s
        self.pad_s = pad_s
        self._whisper = WhisperModel(str(model_path), device="cpu", compute_type=compute_type, cpu_threads=threads)
        self._executor = FairExecutor("stt")

    async def transcribe(self, pcm: np.ndarray, key: str) -> Transcript:
        return await self._executor.run(key, self.transcribe_now, pcm)

    def window_frames(self, samples: int) -> int:
        seconds = min(MAX_WINDOW_S, max(self.min_window_s, math.ceil(samples / STT_RATE + self.pad_s)))
        return int(seconds * FRAMES_PER_SECOND)

    def transcribe_now(self, pcm: np.ndarray) -> Transcript:
        """Blocking transcription of float32 mono audio at 16 kHz (the last 30 s if longer)."""
        pcm = pcm[-MAX_WINDOW_S * STT_RATE :]
        frames = self.window_frames(len(pcm))
        features = self._whisper.feature_extractor(pcm)[:, :frames]
        features = np.pad(features, ((0, 0), (0, frames - features.shape[1])))[np.newaxis]
        model = self._whisper.model
        encoded = model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features, dtype=np.float32)), to_cpu=False)
        language = self._language(encoded)
        tokenizer = Tokenizer(self._whisper.hf_tokenizer, model.is_multilingual, task="transcribe", language=language)
        prompt = list(tokenizer.sot_sequence) + [tokenizer.no_timestamps]
        audio_s = len(pcm) / STT_RATE
        result = model.generate(
            encoded,
            [prompt],
            beam_size=self.beam_size,
            max_length=len(prompt) + 8 + int(6 * audio_s),
            suppress_blank=True,
            suppress_tokens=[-1],
            no_repeat_ngram_size=4,
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        tokens = [token for token in result.sequences_ids[0] if token < tokenizer.eot]
        text = drop_echo(tokenizer.decode(tokens).strip())
        if result.no_speech_prob > 0.6 and result.scores[0] < -1.0:
            text = ""
        return Transcript(text=text, language=language, audio_s=audio_s)

    def _language(self, encoded) -> str:
        if not self._whisper.model.is_multilingual:
            return "en"
        if self.language != "auto":
            return self.language
        token, _prob = self._whisper.model.detect_language(encoded)[0][0]
        return token[2:-2]

    def close(self) -> None:
        self._executor.close()


def drop_echo(text: str) -> str:
    """Cut a trailing restart of an earlier sentence ("Are you real? Are you"), a short-window habit."""
    sentences = re.findall(r"[^.?!]+[.?!]*", text)
    kept: list[str] = []
    for sentence in sentences:
        words = sentence.strip().lower()
        if kept and any(earlier.strip().lower().startswith(words.rstrip(".?!")) for earlier in kept):
            break
        kept.append(sentence)
    return "".join(kept).strip()
