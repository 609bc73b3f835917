"""The conversation memory: bounded, and forgetting in blocks so the LLM's cached prefix stays valid."""

from hootkit.pipeline.prompt import Conversation


def test_memory_is_bounded_and_forgets_half_at_once():
    conversation = Conversation(4)
    sizes = []
    for number in range(8):
        conversation.remember(f"question {number}", f"answer {number}")
        sizes.append(len(conversation))
    assert sizes == [1, 2, 3, 4, 3, 4, 3, 4]
    assert conversation.messages("now")[-4]["content"] == "question 7"


def test_most_prompts_extend_the_previous_one():
    conversation = Conversation(4)
    previous = conversation.messages("q0")
    extended = 0
    for number in range(12):
        conversation.remember(f"q{number}", f"a{number}")
        current = conversation.messages(f"q{number + 1}")
        history = previous[:-2]  # the facts found and the question are new every turn
        extended += current[: len(history)] == history
        previous = current
    assert extended == 8  # re-read from the top only when half the memory is forgotten: turns 5, 7, 9, 11


def test_the_facts_found_come_after_the_cached_prefix_just_before_the_question():
    conversation = Conversation(4)
    conversation.remember("why is the sky blue", "Air scatters blue light.")
    messages = conversation.messages("how many legs does a spider have", ["Spiders have eight legs."])
    assert messages[: len(conversation.prefix())] == conversation.prefix()
    assert messages[-2] == {"role": "system", "content": "Known facts: Spiders have eight legs."}
    assert messages[-1] == {"role": "user", "content": "how many legs does a spider have"}
    assert conversation.messages("what is my cat called")[-2]["content"] == "Known facts: none about this question."


def test_no_memory_remembers_nothing():
    conversation = Conversation(0)
    conversation.remember("hello", "hi")
    assert len(conversation) == 0
