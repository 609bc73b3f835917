"""Sums a child asks are worked out exactly, in English and Mandarin; anything else is left to the model."""

import pytest

from hootkit.knowledge.arithmetic import worked_sum

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    "question, answer",
    [
        ("What is seven times eight?", "7 times 8 is 56."),
        ("what's nine plus six", "9 plus 6 is 15."),
        ("What is one hundred minus thirty-five?", "100 minus 35 is 65."),
        ("What is twelve divided by three?", "12 divided by 3 is 4."),
        ("What is seventeen divided by five?", "17 divided by 5 is 3 with 2 left over."),
        ("What is 5 take away 2?", "5 minus 2 is 3."),
        ("七乘以八等于多少？", "7乘以8等于56。"),
        ("十二除以三是多少？", "12除以3等于4。"),
        ("九百九十九加一等于几？", "999加1等于1000。"),
        ("What is six divided by zero?", "You can't divide a number by zero."),
    ],
)
def test_a_sum_is_worked_out(question, answer):
    assert worked_sum(question) == answer


@pytest.mark.parametrize(
    "question",
    ["How many legs does a spider have?", "What is 7 plus 3 point 5?", "What is 3 plus 4 plus 5?",
     "cats and dogs", "1234567乘以8", "What is two over three?"],
)
def test_anything_else_is_left_to_the_model(question):
    assert worked_sum(question) is None
