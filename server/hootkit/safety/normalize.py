"""Views of a text that undo common obfuscation before matching: leetspeak, spaced letters, pinyin. No I/O."""

import re
import unicodedata
from dataclasses import dataclass

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"})
_SPELLED = re.compile(r"\b(?:[a-z][\s.\-_*]+){2,}[a-z]\b")
_CJK = r"\u3400-\u9fff"
_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])[\s\W_]+(?=[{_CJK}])")
_LEET_WORD = re.compile(r"[a-z0-9@$!|]*[a-z][a-z0-9@$!|]*")


def _unleet(match: re.Match) -> str:
    """"k1ll" -> "kill", "p!lls" -> "pills"; a "!" or "|" ending the word is punctuation, not a letter."""
    word = match.group(0)
    core = word.rstrip("!|")
    return core.translate(_LEET) + word[len(core):]


def _join_spelled(match: re.Match) -> str:
    """"k i l l" -> "kill"; a leading word "i" or "a" stays a word ("can i s u e" -> "can i sue")."""
    letters = re.split(r"[\s.\-_*]+", match.group(0))
    if letters[0] in ("i", "a") and len(letters) > 3:
        return letters[0] + " " + "".join(letters[1:])
    return "".join(letters)


@dataclass(frozen=True)
class Views:
    """plain: lower-cased; clean: leetspeak and spelled-out letters undone; squeezed: letters only."""

    plain: str
    clean: str
    squeezed: str


def views(text: str) -> Views:
    plain = " ".join(unicodedata.normalize("NFKC", text).lower().split())
    clean = _LEET_WORD.sub(_unleet, plain)
    clean = _SPELLED.sub(_join_spelled, clean)
    clean = re.sub(r"(?<=[a-z])[.*](?=[a-z])", "", clean)
    clean = _BETWEEN_CJK.sub("", clean)
    squeezed = re.sub(rf"[^a-z{_CJK}]+", "", clean)
    return Views(plain=plain, clean=clean, squeezed=squeezed)
