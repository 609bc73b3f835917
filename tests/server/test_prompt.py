"""The conversation memory: bounded, and forgetting in blocks so the LLM's cached prefix stays valid."""

from hootkit.pipeline.prompt import Conversation


def test_memory_is_bounded_and_forgets_half_at_once():
    conversation = Conversation(4)
    sizes = []
    for number in range(8):
        conversation.remember(f"question {number}", f"answer {number}")
        sizes.append(len(conversation))
    assert sizes == [1, 2, 3, 4, 3, 4, 3, 4]
    assert conversation.messages("now")[-3]["content"] == "question 7"


def test_most_prompts_extend_the_previous_one():
    conversation = Conversation(4)
    previous = conversation.messages("q0")
    extended = 0
    for number in range(12):
        conversation.remember(f"q{number}", f"a{number}")
        current = conversation.messages(f"q{number + 1}")
        extended += current[: len(previous)] == previous
        previous = current
    assert extended == 8  # re-read from the top only when half the memory is forgotten: turns 5, 7, 9, 11


def test_no_memory_remembers_nothing():
    conversation = Conversation(0)
    conversation.remember("hello", "hi")
    assert len(conversation) == 0
