"""MCP over a XiaoZhi device's websocket (JSON-RPC 2.0 in `mcp` messages): Hootkit asks the device which tools
it has (volume, brightness, its screen...) and calls them for a teacher."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

PROTOCOL_VERSION = "2024-11-05"
ANSWER_S = 5.0  # a device that does not answer a request within this is taken not to
MAX_PAGES = 10  # of tools/list
MAX_TOOLS = 64
MAX_NAME = 64
MAX_TOOL_JSON = 4096  # a tool's description and input schema, as JSON


def _plausible(tool: object) -> bool:
    """A tool entry worth showing: a short plain name and a small description and schema (the device is not trusted)."""
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        return False
    name = tool["name"]
    return 0 < len(name) <= MAX_NAME and name.isprintable() and len(json.dumps(tool)) <= MAX_TOOL_JSON


# a lesson's `device` settings, as the stock XiaoZhi firmware's tools take them: setting -> (tool, argument)
LESSON_SETTINGS = {"volume": ("self.audio_speaker.set_volume", "volume"),
                   "brightness": ("self.screen.set_brightness", "brightness"),
                   "theme": ("self.screen.set_theme", "theme")}


class ToolError(Exception):
    """A tool call that failed: the device said so, did not answer, or has no such tool."""


class DeviceTools:
    """The device's tools, found after its hello, and calls to them."""

    def __init__(self, send: Callable[[dict], Awaitable[None]]):
        self._send = send
        self._next_id = 0
        self._pending: dict[int, asyncio.Future] = {}
        self.tools: list[dict] = []
        self.discovery: asyncio.Task | None = None

    def start(self) -> None:
        self.discovery = asyncio.create_task(self._discover(), name="mcp-discovery")

    def names(self) -> list[str]:
        return [tool["name"] for tool in self.tools]

    async def _discover(self) -> None:
        try:
            # xiaozhi-sdk reads capabilities.vision unconditionally; Hootkit offers no image explainer (empty URL)
            await self._request("initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {"vision": {"url": "", "token": ""}},
                                               "clientInfo": {"name": "hootkit", "version": "1"}})
            await self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            found, cursor = [], None
            for _ in range(MAX_PAGES):
                page = await self._request("tools/list", {"cursor": cursor} if cursor else {})
                listed = page.get("tools")
                found += [tool for tool in listed if _plausible(tool)] if isinstance(listed, list) else []
                cursor = page.get("nextCursor")
                if not isinstance(cursor, str) or not cursor:
                    break
            self.tools = found[:MAX_TOOLS]
        except (ToolError, ConnectionError) as error:
            log.info("device tools not available: %s", error)

    async def call(self, name: str, arguments: dict) -> dict:
        if name not in self.names():
            raise ToolError(f"the device has no tool {name!r}")
        return await self._request("tools/call", {"name": name, "arguments": arguments})

    async def _request(self, method: str, params: dict) -> dict:
        self._next_id += 1
        number = self._next_id
        answer = self._pending[number] = asyncio.get_running_loop().create_future()
        try:
            await self._send({"jsonrpc": "2.0", "id": number, "method": method, "params": params})
            reply = await asyncio.wait_for(answer, ANSWER_S)
        except TimeoutError:
            raise ToolError(f"the device did not answer {method} within {ANSWER_S:g} s") from None
        finally:
            self._pending.pop(number, None)
        if "error" in reply:
            raise ToolError(f"the device refused {method}: {reply['error']}")
        result = reply.get("result")
        if not isinstance(result, dict):
            raise ToolError(f"the device's answer to {method} has no result")
        return result

    async def apply(self, settings: dict[str, object], allowed: list[str]) -> list[str]:
        """Set what a lesson asks for (`LESSON_SETTINGS` names), once the tools are known; a setting the device
        has no tool for, or this server does not allow, is left as it is. Returns the tools called."""
        if self.discovery is not None:
            await asyncio.shield(self.discovery)
        called = []
        for setting, value in settings.items():
            name, argument = LESSON_SETTINGS[setting]
            if name not in allowed or name not in self.names():
                continue
            try:
                await self.call(name, {argument: value})
                called.append(name)
            except ToolError as error:
                log.info("lesson setting %s=%r not set: %s", setting, value, error)
        return called

    def received(self, payload: object) -> None:
        """A message from the device: the answer to one of our requests (anything else is ignored)."""
        if isinstance(payload, dict) and isinstance(payload.get("id"), int):
            waiting = self._pending.get(payload["id"])
            if waiting is not None and not waiting.done():
                waiting.set_result(payload)

    def stop(self) -> None:
        if self.discovery is not None:
            self.discovery.cancel()
