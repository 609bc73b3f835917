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


# letters of other scripts drawn like Latin ones, as typed to slip a word past a word list ("bоmb" with a Cyrillic о)
_LOOK_ALIKES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y",
    "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ɡ": "g", "ɩ": "i",
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X",
    "І": "I", "Ј": "J", "Ѕ": "S", "Α": "A", "Β": "B", "Ε": "E", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ζ": "Z", "Η": "H", "ı": "i", "ȷ": "j",
})
_BLANKS = dict.fromkeys(map(ord, "\u034f\u115f\u1160\u3164\uffa0\u2800"), None)  # drawn as nothing
_BLANKS.update(dict.fromkeys(range(0x0332, 0x0339), None))  # lines struck through or under letters
_HIDDEN = ("Cf", "Cc", "Me")
_ASCII_CONTROLS = dict.fromkeys([*range(0x20), 0x7F], None) | {ord("\n"): "\n", ord("\t"): "\t"}
_WORD = re.compile(r"\w+")


def _as_latin(match: re.Match) -> str:
    word = match.group(0)
    disguised = any("a" <= char.lower() <= "z" for char in word) or all(ord(char) in _LOOK_ALIKES for char in word)
    return word.translate(_LOOK_ALIKES) if disguised else word


def unobfuscated(text: str) -> str:
    """`text` as a word list should read it: compatibility forms folded (NFKC); invisible characters (zero-width,
    soft hyphens, fillers, format and control characters) and lines struck through letters dropped; look-alike
    letters made Latin in a word with Latin letters or made only of look-alikes. Chinese and accents are kept."""
    if text.isascii():  # most text, and every clause the model says in English: nothing can hide in it but controls
        return text.translate(_ASCII_CONTROLS)
    folded = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text))
    kept = "".join(char for char in folded if char in "\n\t" or unicodedata.category(char) not in _HIDDEN)
    return _WORD.sub(_as_latin, unicodedata.normalize("NFC", kept).translate(_BLANKS))


@dataclass(frozen=True)
class Views:
    """plain: lower-cased; clean: leetspeak and spelled-out letters undone; squeezed: letters only."""

    plain: str
    clean: str
    squeezed: str


def views(text: str) -> Views:
    plain = " ".join(unobfuscated(text).lower().split())
    clean = _LEET_WORD.sub(_unleet, plain)
    clean = _SPELLED.sub(_join_spelled, clean)
    clean = re.sub(r"(?<=[a-z])[.*](?=[a-z])", "", clean)
    clean = _BETWEEN_CJK.sub("", clean)
    squeezed = re.sub(rf"[^a-z{_CJK}]+", "", clean)
    return Views(plain=plain, clean=clean, squeezed=squeezed)
