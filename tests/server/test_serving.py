"""What the uvicorn config `hoot serve` and the tests share gives: a frame limit, proxy headers only from
configured proxies, tokens kept out of the log, and this machine trusted only when the server binds it."""

import json
import logging

import httpx
import numpy as np
import pytest
from conftest import fake_engines, fast_settings, silence, tone
from websockets.asyncio.client import connect

from hootkit.app import create_app
from hootkit.client.device import DeviceClient
from hootkit.serving import RedactTokens, serve_in_loop, uvicorn_config, ws_max_size
from hootkit.settings import Settings

HELLO = {"type": "hello", "version": 1, "transport": "websocket",
         "audio_params": {"format": "pcm16", "sample_rate": 16000, "channels": 1, "frame_duration": 40}}
QUESTION = np.concatenate([silence(0.2), tone(0.6)])


def test_uvicorn_reads_just_over_the_largest_legal_frame():
    settings = fast_settings()
    config = uvicorn_config(create_app(settings, fake_engines()), settings)
    assert settings.audio.max_frame_bytes < config.ws_max_size == ws_max_size(settings) <= 70 * 1024
    bigger = fast_settings(audio={"max_frame_bytes": 128 * 1024})
    assert 128 * 1024 < ws_max_size(bigger) <= 134 * 1024


def test_forwarded_headers_are_believed_only_from_configured_proxies():
    plain = uvicorn_config(create_app(fast_settings(), fake_engines()), fast_settings())
    assert plain.proxy_headers is False
    proxied = fast_settings(forwarded_allow_ips=["10.0.0.5"])
    config = uvicorn_config(create_app(proxied, fake_engines()), proxied)
    assert config.proxy_headers is True and config.forwarded_allow_ips == ["10.0.0.5"]


@pytest.mark.parametrize("host,trusted", [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.1.1", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("owl.school.lan", False),
])
def test_this_machine_is_trusted_by_default_only_when_the_server_binds_loopback(host, trusted):
    assert Settings(host=host).trust_local is trusted
    assert Settings(host=host, trust_local=not trusted).trust_local is (not trusted)


def test_the_log_filter_blanks_tokens_in_urls():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/api/live?token=s3cret&x=1", "1.1", 200), None)
    assert RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/live?token=[redacted]&x=1 HTTP/1.1" 200'
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "/v1/device?device_id=a&token=s3cret",
                               None, None)
    RedactTokens().filter(record)
    assert record.getMessage() == "/v1/device?device_id=a&token=[redacted]"
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
                               ("127.0.0.1:5000", "/ws/k/s3cret/aabbccddeeff?opus=true"), None)
    RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "WebSocket /ws/k/[redacted]/aabbccddeeff?opus=true" [accepted]'


class Remember(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_tokens_in_urls_never_reach_uvicorns_log(serve):
    remember = Remember()
    loggers = [logging.getLogger(name) for name in ("uvicorn.access", "uvicorn.error")]
    async with serve(settings=fast_settings(teacher_tokens=["teach-s3cret"])) as url:
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.addHandler(remember)
            logger.setLevel(logging.INFO)
        try:
            base = url.replace("ws://", "http://").split("/v1/")[0]
            async with httpx.AsyncClient(base_url=base) as api:
                assert (await api.get("/api/me?token=teach-s3cret")).status_code == 200
            async with connect(f"{url}?device_id=owl-1&token=dev-s3cret") as ws:
                await ws.send(json.dumps(HELLO))
                await ws.recv()
        finally:
            for logger, level in zip(loggers, levels):
                logger.removeHandler(remember)
                logger.setLevel(level)
    logged = "\n".join(remember.lines)
    assert "/api/me?token=[redacted]" in logged and "token=[redacted]" in logged.split("WebSocket")[-1]
    assert "s3cret" not in logged


async def test_a_server_bound_to_every_address_does_not_trust_a_local_device():
    """Behind a port forward or proxy on this machine, strangers look local: with host 0.0.0.0 a device on
    this machine must be paired like any other, instead of talking at once."""
    app = create_app(fast_settings(host="0.0.0.0"), fake_engines())
    async with serve_in_loop(app) as url, DeviceClient(url, device_id="owl-9") as device:
        code = await device.notice()
        assert code.type == "pair" and code.state == "code" and len(code.code) == 6
        assert "A teacher needs to pair me first" in (await device.told()).reply
    trusting = create_app(fast_settings(host="0.0.0.0", trust_local=True), fake_engines())
    async with serve_in_loop(trusting) as url, DeviceClient(url, device_id="owl-9") as device:
        assert (await device.ask(QUESTION)).sentences == ["A spider has eight legs.", "Can you count them?"]


@pytest.mark.parametrize("path", ["/v1/device", "/xiaozhi/v1/"])
async def test_compression_is_never_negotiated_even_when_a_device_offers_it(serve, path):
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    async with serve() as url:
        async with connect(url.replace("/v1/device", path), additional_headers={"Device-Id": "echo-1"},
                           extensions=[ClientPerMessageDeflateFactory()]) as ws:
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
            assert ws.protocol.extensions == []
