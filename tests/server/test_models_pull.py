"""`hoot models pull`: resumable, hash-checked downloads from a local HTTP server that honours Range."""

import hashlib
import os
import re
import socket
import threading
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hootkit import cli
from hootkit.engines import catalog, downloads, models

BLOB = os.urandom(300_000)
FAKE = catalog.CatalogEntry(
    name="tiny-test-model",
    repo_path="test/Tiny-GGUF/resolve/main/tiny-q4_k_m.gguf",
    size=len(BLOB),
    sha256=hashlib.sha256(BLOB).hexdigest(),
    licence="MIT",
    ram_gb=0.1,
    description="random bytes for tests",
)


class Hub(BaseHTTPRequestHandler):
    """Serves BLOB at any path, honouring `Range: bytes=N-` unless told to ignore it; records each request."""

    requests: list[tuple[str, str | None, int]]
    ignore_range = False
    cut_after: int | None = None  # send this many bytes, then close the connection

    def log_message(self, *args):
        pass

    def do_GET(self):
        asked = self.headers.get("Range")
        start = int(re.fullmatch(r"bytes=(\d+)-", asked)[1]) if asked and not self.ignore_range else 0
        if start >= len(BLOB) > 0 and asked:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(BLOB)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.requests.append((self.path, asked, 0))
            return
        body = BLOB[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        sent = body[: self.cut_after] if self.cut_after is not None else body
        self.wfile.write(sent)
        self.requests.append((self.path, asked, len(sent)))


@contextmanager
def hub(ignore_range=False, cut_after=None):
    """Serve BLOB on a free port in a thread: yields (base_url, requests)."""
    requests: list = []
    handler = type("H", (Hub,), {"requests": requests, "ignore_range": ignore_range, "cut_after": cut_after})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def fake_catalog(tmp_path, monkeypatch):
    """The catalog with FAKE added, a private model cache, and no mirror from the environment."""
    monkeypatch.setattr(catalog, "ENTRIES", (*catalog.ENTRIES, FAKE))
    monkeypatch.setenv("HOOT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(catalog.BASE_URL_VARIABLE, raising=False)
    return tmp_path / "cache" / "models"


@pytest.mark.timeout(30)
def test_pull_downloads_with_progress_and_lands_checked(fake_catalog, capsys):
    with hub() as (url, requests):
        path = catalog.pull(FAKE.name, base_url=url)
    assert path == fake_catalog / FAKE.file_name and path.read_bytes() == BLOB
    assert downloads.file_sha256(path) == FAKE.sha256
    assert requests == [(f"/{FAKE.repo_path}", None, len(BLOB))]
    err = capsys.readouterr().err
    assert FAKE.file_name in err and "100%" in err
    assert not list(fake_catalog.glob("*.part"))
    assert catalog.pulled_path(FAKE.name) == path
    assert catalog.pull(FAKE.name, base_url=refused_url()) == path  # pulled: no network needed


@pytest.mark.timeout(30)
def test_pull_resumes_a_part_with_a_range_request(fake_catalog):
    part = downloads.partial_path(fake_catalog / FAKE.file_name)
    part.parent.mkdir(parents=True)
    part.write_bytes(BLOB[:100_000])
    with hub() as (url, requests):
        path = catalog.pull(FAKE.name, base_url=url, progress=False)
    assert requests == [(f"/{FAKE.repo_path}", "bytes=100000-", len(BLOB) - 100_000)]
    assert path.read_bytes() == BLOB and not part.exists()


@pytest.mark.timeout(30)
def test_a_server_that_ignores_range_is_downloaded_again_from_the_start(fake_catalog):
    part = downloads.partial_path(fake_catalog / FAKE.file_name)
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes from some other file")
    with hub(ignore_range=True) as (url, requests):
        path = catalog.pull(FAKE.name, base_url=url, progress=False)
    assert [sent for _, _, sent in requests] == [len(BLOB)]
    assert path.read_bytes() == BLOB and not part.exists()


@pytest.mark.timeout(30)
def test_a_wrong_hash_is_refused_and_nothing_lands(fake_catalog, monkeypatch):
    wrong = "0" * 64
    monkeypatch.setattr(catalog, "ENTRIES", (replace(FAKE, sha256=wrong),))
    with hub() as (url, _), pytest.raises(downloads.DownloadError) as caught:
        catalog.pull(FAKE.name, base_url=url, progress=False)
    message = str(caught.value)
    assert f"sha256 is {FAKE.sha256}, not the expected {wrong}" in message and "deleted" in message
    assert isinstance(caught.value, models.ModelMissing)
    assert not fake_catalog.exists() or not list(fake_catalog.iterdir())
    assert catalog.pulled_path(FAKE.name) is None


@pytest.mark.timeout(30)
def test_offline_says_so_and_keeps_the_part(fake_catalog):
    part = downloads.partial_path(fake_catalog / FAKE.file_name)
    part.parent.mkdir(parents=True)
    part.write_bytes(BLOB[:50_000])
    down = refused_url()
    with pytest.raises(downloads.Unreachable) as caught:
        catalog.pull(FAKE.name, base_url=down, progress=False)
    message = str(caught.value)
    assert f"could not reach {down}/{FAKE.repo_path}" in message and "offline" in message
    assert f"50000 bytes received so far stay in {part}" in message
    assert part.read_bytes() == BLOB[:50_000]
    assert not (fake_catalog / FAKE.file_name).exists()


@pytest.mark.timeout(30)
def test_a_whole_part_is_checked_and_moved_without_the_network(fake_catalog):
    part = downloads.partial_path(fake_catalog / FAKE.file_name)
    part.parent.mkdir(parents=True)
    part.write_bytes(BLOB)
    assert catalog.pull(FAKE.name, base_url=refused_url(), progress=False).read_bytes() == BLOB


@pytest.mark.timeout(30)
def test_a_transfer_cut_short_keeps_its_part_and_the_next_pull_resumes_it(fake_catalog, monkeypatch):
    part = downloads.partial_path(fake_catalog / FAKE.file_name)
    with hub(cut_after=120_000) as (url, _), pytest.raises(downloads.Unreachable, match="offline"):
        catalog.pull(FAKE.name, base_url=url, progress=False)
    assert part.read_bytes() == BLOB[:120_000]
    with hub() as (url, requests):
        monkeypatch.setenv(catalog.BASE_URL_VARIABLE, url)  # the mirror from the environment this time
        path = catalog.pull(FAKE.name, progress=False)
    assert requests == [(f"/{FAKE.repo_path}", "bytes=120000-", len(BLOB) - 120_000)]
    assert path.read_bytes() == BLOB


@pytest.mark.timeout(10)
def test_the_catalog_pins_official_files_by_size_and_hash():
    assert [item.name for item in catalog.ENTRIES[:-1]] == [
        "qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct", "qwen2.5-3b-instruct"
    ]
    for item in catalog.ENTRIES[:-1]:
        assert item.url().startswith(f"{catalog.HUB_URL}/Qwen/") and item.file_name.endswith("-q4_k_m.gguf")
        assert re.fullmatch(r"[0-9a-f]{64}", item.sha256) and item.size > 400_000_000
    with pytest.raises(catalog.UnknownModel, match="qwen2.5-1.5b-instruct"):
        catalog.entry("gpt-5")


@pytest.mark.timeout(30)
def test_hoot_models_list_shows_the_catalog_and_what_is_installed(capsys):
    assert cli.main(["models", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert list(rows) == [model.name for model in models.PACKAGED_LLMS] + [item.name for item in catalog.ENTRIES]
    assert "(the default)" in rows[models.DEFAULT_LLM] and "packaged" in rows[models.DEFAULT_LLM]
    assert "Qwen Research License" in rows["qwen2.5-3b-instruct"] and "Apache-2.0" in rows["qwen2.5-1.5b-instruct"]
    assert " no " in rows[FAKE.name]
    with hub() as (url, _):
        assert cli.main(["models", "pull", FAKE.name, "--base-url", url]) == 0
    capsys.readouterr()
    assert cli.main(["models", "list"]) == 0
    assert " yes " in next(line for line in capsys.readouterr().out.splitlines() if line.startswith(FAKE.name))


@pytest.mark.timeout(30)
def test_hoot_models_pull_prints_the_path_and_the_setting(fake_catalog, capsys):
    with hub() as (url, _):
        assert cli.main(["models", "pull", FAKE.name, "--base-url", url]) == 0
    out, err = capsys.readouterr()
    assert str(fake_catalog / FAKE.file_name) in out and "100%" in err
    assert f'llm.model = "{FAKE.name}"' in out and f"HOOT_LLM__MODEL={FAKE.name}" in out


@pytest.mark.timeout(30)
def test_hoot_models_pull_failures_exit_2_with_the_reason(capsys):
    assert cli.main(["models", "pull", "gpt-5"]) == 2
    err = capsys.readouterr().err
    assert "'gpt-5' is not a model hootkit can pull" in err and "qwen2.5-3b-instruct" in err
    assert "Traceback" not in err
    assert cli.main(["models", "pull", FAKE.name, "--base-url", refused_url()]) == 2
    assert "could not reach" in capsys.readouterr().err
