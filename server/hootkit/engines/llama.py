"""Embedded LLM through llama-cpp-python; the stable system prompt stays in its KV cache."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from hootkit.engines.executor import FairExecutor
from hootkit.engines.priority import SpeechFirst


class LlamaLlm:
    """One resident model, one generation at a time, sessions served round-robin.

    llama.cpp keeps the tokens of the last prompt; a new prompt that starts with the same system
    prompt only evaluates what follows it, which is what keeps the first token near 50 ms.
    """

    def __init__(
        self, model_path: Path, context: int, threads: int, max_tokens: int, temperature: float, priority: SpeechFirst
    ):
        from llama_cpp import Llama

        self.priority = priority
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._model = Llama(
            model_path=str(model_path), n_ctx=context, n_threads=threads, n_batch=256, verbose=False
        )
        self._executor = FairExecutor("llm")

    async def stream(self, messages: list[dict], key: str) -> AsyncIterator[str]:
        async for piece in self._executor.stream(key, lambda: self._generate(messages)):
            yield piece

    def _generate(self, messages: list[dict]) -> Iterator[str]:
        chunks = self._model.create_chat_completion(
            messages=messages, stream=True, max_tokens=self.max_tokens, temperature=self.temperature
        )
        for chunk in chunks:
            self.priority.wait_for_quiet()
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                yield piece

    def close(self) -> None:
        self._executor.close()
        self._model.close()
