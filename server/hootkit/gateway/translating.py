"""A device websocket wrapped by a translator (XiaoZhi, EchoKit): the native gateway serves it like its own."""

from starlette.websockets import WebSocket


class TranslatingSocket:
    """Passes through what the gateway reads of the websocket (headers, client, state); subclasses translate
    `receive`, `send_text` and `send_bytes`."""

    def __init__(self, ws: WebSocket):
        self.ws = ws

    def __getattr__(self, name: str):  # headers, query_params, client, application_state...: the websocket's own
        return getattr(self.ws, name)

    async def accept(self) -> None:
        await self.ws.accept()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.ws.close(code, reason)
