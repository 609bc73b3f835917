"""Sums a child asks aloud, worked out exactly: a small LLM says "seven times eight is 64". No I/O."""

import re
from fractions import Fraction

from hootkit.lessons.answers import zh_number, normalize

_EN_OPERATORS = {
    "plus": "+", "add": "+", "minus": "-", "take away": "-", "times": "*", "multiplied by": "*",
    "divided by": "/", "shared between": "/",
}
_ZH_OPERATORS = {"加上": "+", "加": "+", "减去": "-", "减": "-", "乘以": "*", "乘": "*", "除以": "/"}
_EN_SUM = re.compile(r"(?<![\d.])(\d{1,6}) (" + "|".join(sorted(_EN_OPERATORS, key=len, reverse=True)) + r") (\d{1,6})(?![\d.])")
_ZH_SUM = re.compile(r"(?<![\d.])(\d{1,6}) ?(" + "|".join(sorted(_ZH_OPERATORS, key=len, reverse=True)) + r") ?(\d{1,6})(?![\d.])")
_NOT_A_SIMPLE_SUM = re.compile(r"\bpoint\b|点|\d ?[.,] ?\d|(plus|minus|times|divided|加|减|乘|除).*(plus|minus|times|divided|加|减|乘|除)")
_ZH_HUNDREDS = re.compile(r"([一二两三四五六七八九])百(?:零?([一二三四五六七八九十]+))?")
_EN_WORDS = {"+": "plus", "-": "minus", "*": "times", "/": "divided by"}
_ZH_WORDS = {"+": "加", "-": "减", "*": "乘以", "/": "除以"}


def worked_sum(question: str) -> str | None:
    """The answer to a sum in the question ("what is nine plus six", "十二除以三等于几") as a fact, else None."""
    chinese = bool(re.search(r"[\u4e00-\u9fff]", question))
    text = _zh_digits(question) if chinese else normalize(question)
    match = (_ZH_SUM if chinese else _EN_SUM).search(text)
    if match is None or _NOT_A_SIMPLE_SUM.search(text):
        return None  # decimals and chained sums are left to the model, which may say it is not sure
    left, word, right = int(match.group(1)), match.group(2), int(match.group(3))
    operator = (_ZH_OPERATORS if chinese else _EN_OPERATORS)[word]
    if operator == "/" and right == 0:
        return "你不能把一个数除以0。" if chinese else "You can't divide a number by zero."
    result = _work(left, operator, right)
    if chinese:
        return f"{left}{_ZH_WORDS[operator]}{right}等于{_say(result, True)}。"
    return f"{left} {_EN_WORDS[operator]} {right} is {_say(result, False)}."


def _work(left: int, operator: str, right: int) -> Fraction:
    if operator == "+":
        return Fraction(left + right)
    if operator == "-":
        return Fraction(left - right)
    if operator == "*":
        return Fraction(left * right)
    return Fraction(left, right)


def _say(value: Fraction, chinese: bool) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    whole, rest = divmod(value.numerator, value.denominator)
    left_over = value.numerator - whole * value.denominator
    return f"{whole}余{left_over}" if chinese else f"{whole} with {left_over} left over"


def _zh_digits(text: str) -> str:
    """Chinese numbers up to 九百九十九 as digits: "七乘以八" -> "7乘以8"."""
    text = _ZH_HUNDREDS.sub(lambda m: str(zh_number(m.group(1)) * 100 + (zh_number(m.group(2)) or 0 if m.group(2) else 0)), text)
    return re.sub(r"[零一二两三四五六七八九十]+", lambda m: str(n) if (n := zh_number(m.group())) is not None else m.group(), text)
