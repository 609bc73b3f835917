"""Splits streamed LLM text into clauses TTS can speak at once. No I/O.

A clause ends at . ? ! (or a newline) followed by a space, or at Chinese 。？！； at once; the first
clause may also end at a comma (, or ，) once it has a few words, or at a space once it has
`first_max_words`, so the first audio starts sooner (TTS time grows with the clause). Later clauses
are cut at `max_words`. A Chinese character counts as half a word.
"""

import re
import unicodedata

_END = re.compile(r"[.?!;:\n]+[\"')\]]*(?=\s)|[。？！；]+[”’」）]*")
_COMMA = re.compile(r",(?=\s)|[，、：]")
_SENTENCE_ENDS = ".?!。？！"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SPACE_BEFORE_MARK = re.compile(r"\s+([.,!?;:])")
_UNSPOKEN = set("*#_`\u200d") | {chr(code) for code in range(0xFE00, 0xFE10)}


class ClauseSplitter:
    def __init__(self, first_comma_words: int = 3, first_max_words: int = 10, max_words: int = 24):
        self.first_comma_words = first_comma_words
        self.first_max_words = first_max_words
        self.max_words = max_words
        self._buffer = ""
        self._emitted = 0
        self.sentences = 0

    def push(self, text: str) -> list[str]:
        """Add streamed text; return the clauses it completed."""
        self._buffer += text
        clauses = []
        while (clause := self._next()) is not None:
            clauses.append(clause)
        return clauses

    def flush(self) -> list[str]:
        """The rest of the text when the stream ends."""
        rest = _clean(self._buffer)
        self._buffer = ""
        if rest:
            self.sentences += 1
        return [rest] if rest else []

    def _next(self) -> str | None:
        cut = None
        match = _END.search(self._buffer)
        if match:
            cut = match.end()
        if self._emitted == 0:
            for comma in _COMMA.finditer(self._buffer):
                if cut is not None and comma.end() > cut:
                    break
                if words(self._buffer[: comma.start()]) >= self.first_comma_words:
                    cut = comma.end()
                    break
        limit = self.first_max_words if self._emitted == 0 else self.max_words
        if cut is None and words(self._buffer) > limit:
            cut = self._buffer.rstrip().rfind(" ")
            if cut <= 0 and _CJK.search(self._buffer):  # Chinese has no spaces: cut at the limit
                cut = _cjk_cut(self._buffer, limit)
        if cut is None or cut <= 0:
            return None
        clause = _clean(self._buffer[:cut])
        self._buffer = self._buffer[cut:]
        if not clause:
            return self._next()
        self._emitted += 1
        if clause[-1] in _SENTENCE_ENDS:
            self.sentences += 1
        return clause


def words(text: str) -> float:
    """Spoken length in words: whitespace words, with each Chinese character counting as half a word."""
    chinese = len(_CJK.findall(text))
    return len(_CJK.sub(" ", text).split()) + chinese / 2


def _cjk_cut(text: str, limit: int) -> int:
    """The index just after the character where the text reaches `limit` words."""
    for end in range(1, len(text) + 1):
        if words(text[:end]) > limit:
            return end - 1
    return len(text)


def _clean(text: str) -> str:
    """Drop what a voice cannot say: markdown marks and emoji or other pictographs."""
    kept = "".join(ch for ch in text if ch not in _UNSPOKEN and unicodedata.category(ch) not in ("So", "Cs", "Co"))
    return _SPACE_BEFORE_MARK.sub(r"\1", " ".join(kept.split()))
