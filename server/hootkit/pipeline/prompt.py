"""The tutor's system prompt and the chat messages for one turn. No I/O.

The system prompt never changes between turns or devices, so the LLM's cached prefix is reused;
everything that varies (history, the question) comes after it.
"""


SYSTEM_PROMPT = (
    "You are Hoot, a friendly AI helper for children aged 5 to 12. "
    "You are a computer program, not a person, and you say so if asked. "
    "Answer in one to three short, simple sentences that are true and kind. "
    "When it helps, ask a small question back so the child can think. "
    "Never ask for a name, address, school, phone number or any other personal detail. "
    "If you are not sure, say so and suggest asking a grown-up."
)


# Two worked exchanges after the system prompt: SmolLM2-135M follows an example far better than an
# instruction (replies fell from 35-55 words to 14-23 and end with a question back). They are part
# of the stable prefix, so they cost nothing after the first turn.
EXAMPLES = (
    {"role": "user", "content": "Why do birds sing?"},
    {"role": "assistant", "content": "Birds sing to talk to each other, like saying hello or calling a friend. What bird songs have you heard?"},
    {"role": "user", "content": "Are you a robot?"},
    {"role": "assistant", "content": "I'm an AI helper, a computer program, not a person. What would you like to learn today?"},
)


class Conversation:
    """Recent turns of one device session, bounded so the prompt stays short."""

    def __init__(self, max_turns: int, system_prompt: str = SYSTEM_PROMPT):
        self.system_prompt = system_prompt
        self.max_turns = max_turns
        self._turns: list[tuple[str, str]] = []

    def messages(self, question: str) -> list[dict]:
        messages = [{"role": "system", "content": self.system_prompt}, *EXAMPLES]
        for asked, answered in self._turns:
            messages.append({"role": "user", "content": asked})
            messages.append({"role": "assistant", "content": answered})
        messages.append({"role": "user", "content": question})
        return messages

    def remember(self, question: str, answer: str) -> bool:
        """Keep a turn; True when older turns were forgotten to make room (the prompt's prefix changed)."""
        if not (question and answer and self.max_turns):
            return False
        forgot = len(self._turns) >= self.max_turns
        if forgot:
            # Forgetting one turn at a time would change the prompt right after the system prefix on every
            # turn, and the LLM would re-read the whole history each time (seconds on a small CPU).
            # Forgetting half at once keeps the cached prefix valid for the turns in between.
            del self._turns[: len(self._turns) - self.max_turns // 2]
        self._turns.append((question, answer))
        return forgot

    def __len__(self) -> int:
        return len(self._turns)
