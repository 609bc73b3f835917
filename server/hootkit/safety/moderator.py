"""An optional guard model after the word lists: any OpenAI-compatible chat endpoint that answers the
Llama Guard way ("safe", or "unsafe" and a line of hazard codes such as "S1,S11")."""

import logging
from collections.abc import Sequence
from typing import Protocol

import httpx

from hootkit.safety.guard import Verdict, flagged

log = logging.getLogger(__name__)

# Llama Guard 3 hazards -> Hootkit categories; S8 (intellectual property) and S13 (elections) are no harm to a child.
HAZARDS = {
    "S1": "violence", "S2": "dangerous_activities", "S3": "sexual", "S4": "sexual", "S5": "hate_harassment",
    "S6": "medical_legal", "S7": "personal_data", "S9": "dangerous_activities", "S10": "hate_harassment",
    "S11": "self_harm", "S12": "sexual", "S14": "manipulation",
}


class Moderator:
    """Asks the guard model about one text; no opinion (None) when the model is down or answers nonsense,
    because the word-list guards have already checked the text and a child should not lose the answer."""

    def __init__(self, base_url: str, model: str, api_key: str, timeout_s: float):
        self.model = model
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)),
        )

    async def check(self, text: str, stage: str, question: str = "") -> Verdict | None:
        """`stage` input: the child's words; output: a reply clause to `question`."""
        if stage == "input":
            messages = [{"role": "user", "content": text}]
        else:
            messages = [{"role": "user", "content": question or "(a child's question)"}, {"role": "assistant", "content": text}]
        body = {"model": self.model, "messages": messages, "max_tokens": 12, "temperature": 0}
        try:
            response = await self._client.post("/chat/completions", json=body)
            response.raise_for_status()
            answer = response.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as error:
            log.warning("moderator at %s gave no verdict (%s); the word-list guard's stands", self._client.base_url, error)
            return None
        return self._verdict(text, stage, answer)

    def _verdict(self, text: str, stage: str, answer: str) -> Verdict | None:
        lines = answer.strip().lower().splitlines()
        if not lines or lines[0].strip() not in ("safe", "unsafe"):
            log.warning("moderator answered %r, not safe/unsafe; the word-list guard's verdict stands", answer[:80])
            return None
        if lines[0].strip() == "safe":
            return Verdict(text, stage, "allow", None, None)
        codes = [code.strip().upper() for code in (lines[1] if len(lines) > 1 else "").split(",")]
        categories = [HAZARDS[code] for code in codes if code in HAZARDS]
        if not categories:
            return Verdict(text, stage, "allow", None, None) if codes != [""] else flagged(text, stage, "unsafe_advice")
        return flagged(text, stage, categories[0])

    async def aclose(self) -> None:
        await self._client.aclose()


class Opinion(Protocol):
    """A guard asked after the word lists: the semantic guard, a guard model."""

    async def check(self, text: str, stage: str, question: str = "") -> Verdict | None: ...


async def second_opinion(verdict: Verdict, guards: Sequence[Opinion], question: str = "") -> Verdict:
    """The word lists' verdict, unless they allowed the text and a later guard objects to it (the first that does).

    When the word lists block a child's words as something other than a disclosure ("he says he'll hurt
    my dog if I tell"), a guard that reads disclosures may turn the redirection into support and a flag.
    """
    if verdict.stage == "input" and not verdict.allowed and verdict.verdict != "alert":
        for guard in guards:
            reads = getattr(guard, "disclosure", None)
            if reads is not None and (category := await reads(verdict.text)):
                return flagged(verdict.text, verdict.stage, category)
        return verdict
    for guard in guards:
        if not verdict.allowed:
            break
        verdict = await guard.check(verdict.text, verdict.stage, question) or verdict
    return verdict
