"""faster-whisper speech-to-text, resident in memory, run on its fair worker."""

from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel

from hootkit.engines.base import STT_RATE, Transcript
from hootkit.engines.executor import FairExecutor


class WhisperStt:
    """Greedy, timestamp-free decoding: the settings that keep a short question under ~0.35 s on 2 cores."""

    def __init__(self, model_path: Path, language: str, compute_type: str, threads: int, beam_size: int):
        self.language = language
        self.beam_size = beam_size
        self._model = WhisperModel(str(model_path), device="cpu", compute_type=compute_type, cpu_threads=threads)
        self._executor = FairExecutor("stt")

    async def transcribe(self, pcm: np.ndarray, key: str) -> Transcript:
        return await self._executor.run(key, self.transcribe_now, pcm)

    def transcribe_now(self, pcm: np.ndarray) -> Transcript:
        """Blocking transcription of float32 mono audio at 16 kHz."""
        language = None if self.language == "auto" else self.language
        segments, info = self._model.transcribe(
            pcm,
            language=language,
            beam_size=self.beam_size,
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return Transcript(text=text, language=info.language, audio_s=len(pcm) / STT_RATE)

    def close(self) -> None:
        self._executor.close()
