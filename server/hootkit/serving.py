"""Run the app under uvicorn: `hoot serve`, or inside the current event loop on a free port (tests, benchmarks)."""

import asyncio
import socket
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

import hootproto


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
async def serve_in_loop(app: FastAPI, ws_max_size: int = 16 * 1024 * 1024, port: int = 0):
    """Yield the device URL once the app has loaded its engines and is listening (on `port`, or a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws_max_size=ws_max_size, ws_ping_interval=None))
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
