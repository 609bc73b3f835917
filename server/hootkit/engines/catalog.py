"""Bigger LLMs (GGUF) than the embedded one, pinned by size and sha256, that `hoot models pull` fetches."""

import os
from dataclasses import dataclass
from pathlib import Path

from hootkit.engines import downloads, models

HUB_URL = "https://huggingface.co"
BASE_URL_VARIABLE = "HOOT_MODELS_URL"


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    repo_path: str  # below the hub: owner/repo/resolve/revision/file
    size: int
    sha256: str
    licence: str
    ram_gb: float  # roughly what the model needs while it answers, context included
    description: str

    @property
    def file_name(self) -> str:
        return self.repo_path.rsplit("/", 1)[-1]

    def url(self, base_url: str | None = None) -> str:
        base = base_url or os.environ.get(BASE_URL_VARIABLE) or HUB_URL
        return f"{base.rstrip('/')}/{self.repo_path}"


ENTRIES = (
    CatalogEntry(
        name="qwen2.5-0.5b-instruct",
        repo_path="Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf",
        size=491_400_032,
        sha256="74a4da8c9fdbcd15bd1f6d01d621410d31c6fc00986f5eb687824e7b93d7a9db",
        licence="Apache-2.0",
        ram_gb=1.0,
        description="Qwen2.5 0.5B Instruct, Q4_K_M: small and quick, the general chat model rather than the coder",
    ),
    CatalogEntry(
        name="qwen2.5-1.5b-instruct",
        repo_path="Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/qwen2.5-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_736,
        sha256="6a1a2eb6d15622bf3c96857206351ba97e1af16c30d7a74ee38970e434e9407e",
        licence="Apache-2.0",
        ram_gb=2.0,
        description="Qwen2.5 1.5B Instruct, Q4_K_M: better answers in more languages, slower on small CPUs",
    ),
    CatalogEntry(
        name="qwen2.5-3b-instruct",
        repo_path="Qwen/Qwen2.5-3B-Instruct-GGUF/resolve/main/qwen2.5-3b-instruct-q4_k_m.gguf",
        size=2_104_932_768,
        sha256="626b4a6678b86442240e33df819e00132d3ba7dddfe1cdc4fbb18e0a9615c62d",
        licence="Qwen Research License",
        ram_gb=3.5,
        description="Qwen2.5 3B Instruct, Q4_K_M: the strongest here; its licence allows no commercial use",
    ),
)


class UnknownModel(models.ModelMissing):
    """A name that is not in the catalog."""


def entry(name: str) -> CatalogEntry:
    for item in ENTRIES:
        if item.name == name:
            return item
    names = ", ".join(item.name for item in ENTRIES)
    raise UnknownModel(f"{name!r} is not a model hootkit can pull; the catalog has: {names}")


def models_folder() -> Path:
    return models.cache_dir() / "models"


def pulled_path(name: str, folder: Path | None = None) -> Path | None:
    """The model's file in the folder if it is complete (only checked files are ever moved there)."""
    item = entry(name)
    path = Path(folder or models_folder()) / item.file_name
    return path if path.is_file() and path.stat().st_size == item.size else None


def pull(name: str, folder: Path | None = None, base_url: str | None = None, progress: bool = True) -> Path:
    """The model's file, downloaded (resuming a .part) and checked unless already pulled; raises ModelMissing."""
    item = entry(name)
    folder = Path(folder or models_folder())
    return pulled_path(name, folder) or downloads.download(
        item.url(base_url), folder / item.file_name, item.sha256, item.size, progress
    )
