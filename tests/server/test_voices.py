"""Fetching piper voices from a real local HTTP server laid out like rhasspy/piper-voices."""

import socket
import threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import hoot

from hootkit.engines import models
from hootkit.engines.voices import VoiceMissing, fetch_voice, installed, voice_path

NAME = "zh_CN-huayan-medium"
ONNX = bytes(range(256)) * 1200


@pytest.fixture
def repo(tmp_path):
    """A voice repository folder with one fake voice in the piper-voices layout."""
    folder = tmp_path / "repo" / "zh" / "zh_CN" / "huayan" / "medium"
    folder.mkdir(parents=True)
    (folder / f"{NAME}.onnx").write_bytes(ONNX)
    (folder / f"{NAME}.onnx.json").write_text('{"audio": {"sample_rate": 22050}}')
    return tmp_path / "repo"


class Handler(SimpleHTTPRequestHandler):
    hits: list[str]
    truncate = False

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.hits.append(self.path)
        if self.truncate and self.path.endswith(".onnx"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(ONNX)))
            self.end_headers()
            self.wfile.write(ONNX[: len(ONNX) // 2])
            return
        super().do_GET()


@contextmanager
def serving(root, truncate=False):
    """Serve `root` on a free port in a thread: yields (base_url, hits)."""
    hits: list[str] = []
    handler = type("H", (Handler,), {"hits": hits, "truncate": truncate})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_fetch_downloads_with_progress_then_uses_the_cache(repo, tmp_path, capsys):
    voices = tmp_path / "voices"
    with serving(repo) as (url, hits):
        path = fetch_voice(NAME, voices, url)
        assert path == voices / f"{NAME}.onnx" and path.read_bytes() == ONNX
        assert (voices / f"{NAME}.onnx.json").is_file()
        assert hits == [f"/zh/zh_CN/huayan/medium/{NAME}.onnx.json", f"/zh/zh_CN/huayan/medium/{NAME}.onnx"]
        assert f"{NAME}.onnx" in capsys.readouterr().err
        assert fetch_voice(NAME, voices, url) == path
        assert len(hits) == 2
    assert voice_path(NAME, voices) == path and installed(voices) == [NAME]
    assert not list(voices.glob("*.part"))


def test_the_embedded_voice_needs_no_download(tmp_path):
    assert voice_path("embedded", tmp_path) == voice_path("en_US-joe-medium", tmp_path) == models.joe_voice()
    assert fetch_voice("en_US-joe-medium", tmp_path, refused_url()) == models.joe_voice()


def test_offline_names_the_voice_the_folder_and_the_fix(tmp_path):
    voices = tmp_path / "voices"
    with pytest.raises(VoiceMissing) as caught:
        fetch_voice(NAME, voices, refused_url(), progress=False)
    message = str(caught.value)
    assert f"piper voice {NAME} is missing" in message and "offline" in message
    assert f"hoot voices fetch {NAME}" in message
    assert f"{NAME}.onnx and {NAME}.onnx.json into the voices folder {voices}" in message
    assert isinstance(caught.value, models.ModelMissing)


def test_a_truncated_download_leaves_no_voice_behind(repo, tmp_path):
    voices = tmp_path / "voices"
    with serving(repo, truncate=True) as (url, _), pytest.raises(VoiceMissing, match="offline"):
        fetch_voice(NAME, voices, url, progress=False)
    assert not (voices / f"{NAME}.onnx").exists() and not list(voices.glob("*.part"))
    with pytest.raises(VoiceMissing, match="not installed"):
        voice_path(NAME, voices)


def test_an_unknown_voice_and_a_bad_name_say_so(repo, tmp_path):
    with serving(repo) as (url, _), pytest.raises(VoiceMissing, match="answered 404"):
        fetch_voice("zh_CN-nobody-low", tmp_path, url, progress=False)
    with pytest.raises(VoiceMissing, match="not a piper voice name"):
        voice_path("../../etc/passwd", tmp_path)



async def test_hoot_voices_fetch_offline_exits_1_with_the_fix(tmp_path):
    code, _, err = await hoot("voices", "fetch", NAME, "--dir", str(tmp_path), "--url", refused_url())
    assert code == 1
    assert "offline" in err and f"hoot voices fetch {NAME}" in err and str(tmp_path) in err


async def test_hoot_voices_fetch_then_list(repo, tmp_path):
    voices = tmp_path / "voices"
    with serving(repo) as (url, _):
        code, out, err = await hoot("voices", "fetch", NAME, "--dir", str(voices), "--url", url)
    assert code == 0, err
    assert str(voices / f"{NAME}.onnx") in out and "100%" in err
    code, out, _ = await hoot("voices", "list", "--dir", str(voices))
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["en_US-joe-medium", NAME]
