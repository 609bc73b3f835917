"""Quiz answers are checked without the LLM: numbers in words or digits, synonyms, English and Mandarin."""

import pytest

from hootkit.lessons.answers import does_not_know, matches, normalize, wants_to_stop


@pytest.mark.parametrize("text, expected", [
    ("Eight legs!", "8 legs"), ("twenty-one", "21"), ("one hundred and five", "105"), ("seventy seven", "77"),
    ("八条腿", "8 条 腿"), ("十二", "12"), ("二十三", "23"), ("两只", "2 只"),
])
def test_numbers_become_digits(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize("said, accepted, right", [
    ("I think eight", ["8"], True), ("8", ["8"], True), ("eighteen", ["8"], False), ("88", ["8"], False),
    ("nope", ["no"], False), ("nope", ["no", "nope"], True), ("it is not an insect", ["no", "not an insect"], True),
    ("yellow!", ["yellow"], True), ("mellow", ["yellow"], False), ("八条", ["8"], True), ("有八条腿", ["八条腿"], True),
    ("the Sun", ["the sun"], True), ("", ["8"], False),
])
def test_matching(said, accepted, right):
    assert matches(said, accepted) is right


def test_stop_and_dont_know():
    assert wants_to_stop("Stop!") and wants_to_stop("I want to stop now") and wants_to_stop("不学了")
    assert not wants_to_stop("spiders stop to rest")
    assert does_not_know("I don't know") and does_not_know("不知道") and not does_not_know("I know, eight")


@pytest.mark.parametrize("said, accepted, right", [
    ("not true", ["true"], False), ("it is true", ["true"], True), ("it's not yellow", ["yellow"], False),
    ("no", ["no"], True), ("not an insect", ["not an insect"], True),
])
def test_a_negated_answer_is_not_the_answer(said, accepted, right):
    assert matches(said, accepted) is right
