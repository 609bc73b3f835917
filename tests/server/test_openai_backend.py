"""The OpenAI-compatible chat backend against a real llama.cpp server, and when the backend is down."""

import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import fake_engines, fast_settings, silence, tone

from hootkit.client.device import DeviceClient
from hootkit.engines import models
from hootkit.engines.openai_chat import BackendError, OpenAIChatLlm


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    """llama-cpp-python's own OpenAI-compatible server on the embedded GGUF; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(models.smollm2_gguf()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--model_alias", "smollm2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines = []
    for line in process.stdout:  # the server says when it listens; no polling
        lines.append(line)
        if "Uvicorn running on" in line:
            break
    if process.poll() is not None:
        pytest.fail("llama_cpp.server did not start:\n" + "".join(lines))
    yield f"http://127.0.0.1:{port}/v1"
    process.terminate()
    process.wait(timeout=30)


def chat(base_url: str, **overrides) -> OpenAIChatLlm:
    options = {"model": "smollm2", "api_key": "none", "max_tokens": 30, "temperature": 0.0, "timeout_s": 30.0}
    options.update(overrides)
    return OpenAIChatLlm(base_url, **options)


async def test_streams_a_reply_from_a_real_server(llama_server):
    llm = chat(llama_server)
    assert await llm.models() == ["smollm2"]
    await llm.health()
    pieces = [piece async for piece in llm.stream([{"role": "user", "content": "How many legs does a spider have?"}], "t")]
    await llm.aclose()
    assert len(pieces) > 1 and any(ch.isalpha() for ch in "".join(pieces))


async def test_a_voice_turn_through_the_remote_backend(llama_server, serve):
    engines = fake_engines()
    engines.llm = chat(llama_server)
    async with serve(engines) as url, DeviceClient(url) as client:
        result = await client.ask(np.concatenate([silence(0.2), tone(0.6)]))
    await engines.llm.aclose()
    assert result.sentences and result.audio


async def test_unknown_model_is_a_clear_backend_error(llama_server):
    llm = chat(llama_server.replace("/v1", "/nope"))
    with pytest.raises(BackendError, match="answered 404"):
        async for _ in llm.stream([{"role": "user", "content": "hi"}], "t"):
            pass
    await llm.aclose()


async def test_backend_down_gives_an_alert_and_the_session_lives(serve):
    engines = fake_engines()
    engines.llm = chat(f"http://127.0.0.1:{free_port()}/v1", timeout_s=2.0)
    async with serve(engines, fast_settings()) as url, DeviceClient(url) as client:
        first = await client.ask(np.concatenate([silence(0.2), tone(0.6)]))
        second = await client.ask(np.concatenate([silence(0.2), tone(0.6)]))
    await engines.llm.aclose()
    for result in (first, second):
        assert [alert.code for alert in result.alerts] == ["backend_unavailable"]
        assert "unreachable" in result.alerts[0].message
        assert result.sentences == ["Sorry, my thinking part is not working right now.", "Please tell your teacher."]
        assert result.audio


async def test_health_says_when_the_backend_is_down():
    engines = fake_engines()
    engines.llm = chat(f"http://127.0.0.1:{free_port()}/v1", timeout_s=2.0)
    assert (await engines.health())["llm"] == "the LLM backend is unreachable"  # no address for anyone who asks
    await engines.llm.aclose()
