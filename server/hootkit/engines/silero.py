"""Silero VAD v6 through onnxruntime: streaming speech probability per 32 ms window."""

from pathlib import Path

import numpy as np
import onnxruntime

from hootkit.engines.base import VAD_WINDOW

CONTEXT = 64


class SileroStream:
    """Carries the model's recurrent state and 64-sample context across windows of one stream."""

    def __init__(self, session: onnxruntime.InferenceSession):
        self._session = session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)

    def speech_probs(self, windows: np.ndarray) -> list[float]:
        probs = []
        for window in windows.reshape(-1, VAD_WINDOW):
            frame = np.concatenate([self._context, window])[np.newaxis, :]
            out, self._h, self._c = self._session.run(None, {"input": frame, "h": self._h, "c": self._c})
            self._context = window[-CONTEXT:]
            probs.append(float(out.reshape(-1)[0]))
        return probs


class SileroVad:
    """One shared ONNX session; each device gets its own stream state."""

    def __init__(self, model_path: Path):
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(model_path), providers=["CPUExecutionProvider"], sess_options=options
        )

    def new_stream(self) -> SileroStream:
        return SileroStream(self._session)
