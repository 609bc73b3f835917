"""Run the app under uvicorn: `hoot serve`, or inside the current event loop on a free port (tests, benchmarks).

Both build their uvicorn config with `uvicorn_config`, so what tests exercise is what `hoot serve` runs."""

import asyncio
import logging
import re
import socket
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

import hootproto
from hootproto.codec import MAX_TEXT_BYTES
from hootkit.settings import Settings

# room above the largest legal frame: a frame a little over the limit gets the protocol's `too_large`
# alert and the session lives; a much bigger one is closed by uvicorn (1009) before it is read
WS_HEADROOM_BYTES = 1024
_TOKEN = re.compile(r"(?<=[?&])token=[^&\s\"]*")
_PATH_TOKEN = re.compile(r"(?<=/ws/k/)[^/\s\"?]+")  # an EchoKit box's token, in the server URL it was given


def ws_max_size(settings: Settings) -> int:
    """The largest websocket message uvicorn will read: just above the largest legal frame (audio
    frames up to `audio.max_frame_bytes`; protocol text frames are smaller), so a bigger one is refused
    with close 1009 as soon as its header arrives, before it is buffered."""
    return max(settings.audio.max_frame_bytes, MAX_TEXT_BYTES) + WS_HEADROOM_BYTES


class RedactTokens(logging.Filter):
    """Blanks tokens in logged URLs: browsers send their device or teacher token as `?token=`, EchoKit boxes
    theirs in the path (`/ws/k/TOKEN/...`), and uvicorn logs each request's path with its query
    (`uvicorn.access`, and websocket handshakes on `uvicorn.error`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def _redact(text: str) -> str:
    return _PATH_TOKEN.sub("[redacted]", _TOKEN.sub("token=[redacted]", text))


def redact_tokens_in_logs() -> None:
    """Put RedactTokens on uvicorn's loggers (once); call after uvicorn has configured logging."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
            logger.addFilter(RedactTokens())


class DeviceWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol, but a text frame that is not UTF-8 is closed with 1007 and a reason, not with
    an empty reason and an ERROR traceback in the log for each such frame."""

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            try:
                data.decode()
            except UnicodeDecodeError:
                self.frames = []
                self.conn.send_close(1007, "text frame is not valid UTF-8")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()


def uvicorn_config(app: FastAPI, settings: Settings, **options) -> uvicorn.Config:
    """The uvicorn config `hoot serve` runs and tests serve with: frames over the largest legal one are
    refused (close 1009), compression is never negotiated, `X-Forwarded-For` is believed only from `forwarded_allow_ips`, and tokens are
    kept out of the log. `options` go to uvicorn.Config (host, port, log_level, ws_ping_interval...)."""
    proxies = list(settings.forwarded_allow_ips)
    config = uvicorn.Config(
        app,
        ws_max_size=ws_max_size(settings),
        ws_per_message_deflate=False,
        ws=DeviceWebSocketProtocol,  # stock devices (EchoKit) offer it but cannot read compressed frames
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        **options,
    )
    redact_tokens_in_logs()
    return config


class HootServer(uvicorn.Server):
    """uvicorn.Server that says when it is listening, and ends the dashboards' live streams when it stops
    (uvicorn waits for open responses before it shuts down, and a live stream never ends by itself)."""

    def __init__(self, config: uvicorn.Config):
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        self.listening.set()

    async def shutdown(self, sockets=None) -> None:
        hoot = getattr(self.config.app.state, "hoot", None)
        if hoot is not None:
            hoot.live.close()
        await super().shutdown(sockets=sockets)


class _Server(HootServer):
    """HootServer for a loop someone else owns."""

    def install_signal_handlers(self) -> None:
        """Leave signals to whoever owns the process."""


@asynccontextmanager
async def serve_in_loop(app: FastAPI, port: int = 0, settings: Settings | None = None):
    """Yield the device URL once the app has loaded its engines and is listening on 127.0.0.1 (on `port`, or
    a free one). The uvicorn config is `hoot serve`'s, from `settings` (default: the app's own)."""
    settings = settings or getattr(app.state, "settings", None) or Settings()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    server = _Server(uvicorn_config(app, settings, log_level="warning", lifespan="on", ws_ping_interval=None))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    listening = asyncio.create_task(server.listening.wait())
    await asyncio.wait({task, listening}, return_when=asyncio.FIRST_COMPLETED)
    if not server.listening.is_set():
        listening.cancel()
        task.result()
        raise RuntimeError("server failed to start")
    try:
        yield f"ws://127.0.0.1:{port}{hootproto.PATH}"
    finally:
        server.should_exit = True
        await task
        sock.close()
