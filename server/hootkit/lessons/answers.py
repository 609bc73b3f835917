"""Deterministic answer checking: numbers in words or digits, synonyms, English and Mandarin. No I/O."""

import re

EN_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}
ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
STOP_WORDS = {"stop", "quit", "finish", "no more", "let's stop", "停", "结束"}
STOP_PHRASES = ("i want to stop", "stop the lesson", "不学了", "不想学了")
DONT_KNOW = ("i don't know", "i dont know", "don't know", "dunno", "no idea", "not sure", "不知道", "不会")


def zh_number(text: str) -> int | None:
    """一..九十九 as an int (十 = 10, 十二 = 12, 二十 = 20, 二十三 = 23)."""
    if "十" in text:
        tens, _, ones = text.partition("十")
        if (tens and tens not in ZH_DIGITS) or (ones and ones not in ZH_DIGITS):
            return None
        return ZH_DIGITS.get(tens, 1) * 10 + ZH_DIGITS.get(ones, 0)
    return ZH_DIGITS.get(text) if len(text) == 1 else None


def normalize(text: str) -> str:
    """Lowercase words with numbers as digits: "Eight legs!" -> "8 legs"; "八条腿" -> "8条腿"."""
    text = text.lower().replace("’", "'").replace("-", " ")
    text = re.sub(r"[零一二两三四五六七八九十]+", lambda m: str(n) if (n := zh_number(m.group())) is not None else m.group(), text)
    words = re.findall(r"[a-z0-9']+|[^\sa-z0-9'.,!?;:\"()]", text)
    out, pending = [], None
    for word in words:
        value = EN_NUMBERS.get(word)
        if value is not None:
            if pending is None:
                pending = value
            elif value == 100:
                pending *= 100
            elif (pending >= 100 and value < 100) or (pending >= 20 and pending % 10 == 0 and value < 10):
                pending += value
            else:
                out.append(str(pending))
                pending = value
            continue
        if word == "and" and pending is not None and pending >= 100:
            continue
        if pending is not None:
            out.append(str(pending))
            pending = None
        out.append(word)
    if pending is not None:
        out.append(str(pending))
    return " ".join(out)


NEGATIONS = ("not", "no", "isn't", "never", "don't")


def _contains(haystack: str, needle: str) -> bool:
    """`needle` as whole words in `haystack`, and not negated ("not true" does not say "true")."""
    if not needle:
        return False
    if re.search(r"[\u4e00-\u9fff]", needle):
        return needle.replace(" ", "") in haystack.replace(" ", "")
    for found in re.finditer(rf"(?<![a-z0-9']){re.escape(needle)}(?![a-z0-9'])", haystack):
        before = haystack[: found.start()].split()
        if not (before and before[-1] in NEGATIONS and needle.split()[0] not in NEGATIONS):
            return True
    return False


def matches(said: str, accepted: list[str]) -> bool:
    """Whether what the child said contains one of the accepted answers (after normalizing both)."""
    heard = normalize(said)
    return any(_contains(heard, normalize(answer)) for answer in accepted)


def wants_to_stop(said: str) -> bool:
    heard = normalize(said).strip(" .!")
    if heard in STOP_WORDS or heard.replace(" ", "") in STOP_WORDS:
        return True
    return any(_contains(heard, phrase) for phrase in STOP_PHRASES)


def does_not_know(said: str) -> bool:
    heard = normalize(said)
    return any(_contains(heard, normalize(phrase)) for phrase in DONT_KNOW)
