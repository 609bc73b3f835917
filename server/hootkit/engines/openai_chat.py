"""Remote LLM: any OpenAI-compatible chat completions endpoint (llama.cpp server, vLLM, Ollama)."""

import json
from collections.abc import AsyncIterator

import httpx

from hootkit.engines.base import BackendError


class OpenAIChatLlm:
    """Streams chat completions over server-sent events; the remote engine does its own batching."""

    def __init__(self, base_url: str, model: str, api_key: str, max_tokens: int, temperature: float, timeout_s: float):
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_s, connect=5.0),
        )

    async def stream(self, messages: list[dict], key: str) -> AsyncIterator[str]:
        body = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "user": key,
        }
        try:
            async with self._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code != 200:
                    detail = (await response.aread()).decode(errors="replace")[:200]
                    raise BackendError(f"LLM backend answered {response.status_code}: {detail}",
                                       brief=f"the LLM backend answered {response.status_code}")
                async for line in response.aiter_lines():
                    piece = _delta(line)
                    if piece is _DONE:
                        return
                    if piece:
                        yield piece
        except httpx.HTTPError as error:
            raise BackendError(f"LLM backend at {self._client.base_url} is unreachable: {error!r}",
                               brief="the LLM backend is unreachable") from error

    async def models(self) -> list[str]:
        """The model ids the endpoint serves (used by `hoot doctor`)."""
        try:
            response = await self._client.get("/models")
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise BackendError(f"LLM backend at {self._client.base_url} is unreachable: {error!r}",
                               brief="the LLM backend is unreachable") from error
        return [entry["id"] for entry in response.json().get("data", [])]

    async def health(self) -> None:
        """Raises BackendError unless the endpoint answers (for /healthz); llama.cpp's server answers for any model
        name, so the name is `hoot doctor`'s business."""
        await self.models()

    async def aclose(self) -> None:
        await self._client.aclose()


_DONE = object()


def _delta(line: str):
    """One SSE line -> text piece, None for keep-alives and empty deltas, _DONE at the end."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return _DONE
    try:
        choice = json.loads(payload)["choices"][0]
    except (ValueError, KeyError, IndexError) as error:
        raise BackendError(f"LLM backend sent an unreadable event: {payload[:120]!r}",
                       brief="the LLM backend sent an unreadable answer") from error
    return (choice.get("delta") or {}).get("content")
