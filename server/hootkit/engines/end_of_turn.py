"""Smart Turn v3.2 (BSD-2-Clause, in the pipecat-ai wheel) through onnxruntime: has the speaker finished?"""

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime
from faster_whisper.feature_extractor import FeatureExtractor

from hootkit.engines import models

RATE = 16000
WINDOW = 8 * RATE  # the model hears the last 8 s; shorter audio is padded with silence at the start
SMART_TURN_FILE = "smart-turn-v3.2-cpu.onnx"
SMART_TURN_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
SMART_TURN_HINT = "pip install --no-deps 'pipecat-ai==1.14.0'"
# Whisper's front end (FFT 400, hop 160, 80 Slaney mels) in float64, as transformers computes it:
# faster-whisper's float32 FeatureExtractor moves this int8 model's output by up to 0.005, this not at all.
MEL_FILTERS = FeatureExtractor.get_mel_filters(RATE, 400, n_mels=80)
HANN = np.hanning(401)[:-1]  # periodic


def packaged_model() -> Path:
    """The ONNX inside pipecat-ai, found without importing pipecat (installed without its dependencies)."""
    data = models._package_dir("pipecat", SMART_TURN_HINT) / "audio" / "turn" / "smart_turn" / "data"
    return data / SMART_TURN_FILE


class EndOfTurnModel:
    """P(the turn is complete) for the utterance so far; one shared session, safe to call from threads."""

    def __init__(self, path: Path, threads: int = 1):
        path = Path(path)
        packaged = path.name == SMART_TURN_FILE  # a file of this name must be the pinned one
        fix = f"reinstall it: {SMART_TURN_HINT} --force-reinstall" if packaged else "replace it"
        if not path.is_file():
            raise models.ModelMissing(f"end-of-turn model {path} is missing; {fix}")
        if packaged:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != SMART_TURN_SHA256:
                raise models.ModelMissing(
                    f"end-of-turn model {path} has sha256 {digest}, not the pinned {SMART_TURN_SHA256}: "
                    f"it is damaged or of another version; {fix}"
                )
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = threads
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 4
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"], sess_options=options
            )
        except Exception as error:  # onnxruntime raises its own Fail / InvalidProtobuf types
            raise models.ModelMissing(f"end-of-turn model {path} cannot be loaded: {error}; {fix}") from error

    @staticmethod
    def features(pcm: np.ndarray) -> np.ndarray:
        """(80, 800) log-mel of the last 8 s: WhisperFeatureExtractor(chunk_length=8), do_normalize=True."""
        audio = np.asarray(pcm, dtype=np.float32).reshape(-1)[-WINDOW:]
        audio = np.pad(audio, (WINDOW - len(audio), 0))
        audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)  # the whole window, padding too
        stft = FeatureExtractor.stft(audio.astype(np.float64), 400, 160, window=HANN, return_complex=True)
        log_mel = np.log10(np.maximum(MEL_FILTERS @ np.abs(stft[:, :-1]) ** 2, 1e-10))
        return ((np.maximum(log_mel, log_mel.max() - 8.0) + 4.0) / 4.0).astype(np.float32)

    def probability(self, pcm: np.ndarray) -> float:
        """float32 mono 16 kHz speech so far -> P(complete) in [0, 1]; blocking, about 0.3 s on a 2-core CPU without VNNI."""
        (scores,) = self._session.run(None, {"input_features": self.features(pcm)[np.newaxis]})
        return float(scores.reshape(-1)[0])
