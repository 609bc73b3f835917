"""Input and output guards: a verdict for each transcript and each reply clause before TTS. No I/O.

Verdicts: `allow`; `redirect` (the child hears a kind redirection instead); `alert` (a
disclosure of self-harm or abuse: the child hears support and a nudge to a trusted grown-up, and
the teacher is flagged). Matching is word lists and patterns over de-obfuscated text, so one
clause costs well under a millisecond.
"""

import re
from dataclasses import asdict, dataclass

from hootkit.safety import lexicon
from hootkit.safety.normalize import Views, views
from hootkit.safety.replies import reply_for

ALERTING = ("self_harm", "abuse_disclosure")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Verdict:
    text: str
    stage: str
    verdict: str
    category: str | None
    reply: str | None

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"

    def to_dict(self) -> dict:
        return asdict(self)


def language_of(text: str) -> str:
    return "zh" if _CJK.search(text) else "en"


def _match(table: dict, seen: Views) -> str | None:
    for category, rules in table.items():
        if any(pattern.search(seen.clean) for pattern in rules.get("en", ())):
            return category
        if any(phrase in seen.clean for phrase in rules.get("zh", ())):
            return category
        if any(pattern.search(seen.clean) for pattern in rules.get("zh_re", ())):
            return category
        if any(syllables in seen.squeezed for syllables in rules.get("pinyin", ())):
            return category
    return None


def flagged(text: str, stage: str, category: str) -> Verdict:
    """The verdict on an unsafe text: support and a teacher's flag for a child's disclosure, else a redirection."""
    verdict = "alert" if category in ALERTING and stage == "input" else "redirect"
    return Verdict(text, stage, verdict, category, reply_for(category, language_of(text)))


def check_input(text: str) -> Verdict:
    """A child's transcript: allow it to the LLM, or answer with a redirection or support."""
    category = _match(lexicon.INPUT, views(text))
    return Verdict(text, "input", "allow", None, None) if category is None else flagged(text, "input", category)


def check_output(clause: str) -> Verdict:
    """One clause of the LLM's reply, before it is spoken."""
    seen = views(clause)
    category = _match(lexicon.REPLY_ONLY, seen) or _match(lexicon.INPUT, seen)
    return Verdict(clause, "output", "allow", None, None) if category is None else flagged(clause, "output", category)
