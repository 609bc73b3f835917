"""Reply style enforced in code, clause by clause: the answer first, short, no lists, never a person. No I/O."""

import re

from hootkit.pipeline.clauses import words

LIST_MARKER = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)、]|[a-h][.)])(?:\s+|$)")
# A small model playing a person: claims a human identity, a body, a family or feelings of its own.
PERSONA = re.compile(
    r"\bI(?:'m| am) (?:a |an )?(?:real |human |little |young )?(?:person|human|boy|girl|kid|child|man|woman|alive)\b"
    r"|\bI (?:have|had|got) (?:a |two |my |many |lots of )?(?:body|family|mom|mum|dad|mother|father|brother|sister"
    r"|parents|grandma|grandpa|friends?|pets?|dog|cat|hands|eyes|feelings|birthday)\b"
    r"|\bmy (?:mom|mum|dad|mother|father|family|brother|sister|parents|body|house|bedroom)\b"
    r"|\bI (?:feel|felt|am feeling|get|got) (?:so |very |really )?(?:sad|happy|lonely|tired|hungry|angry|scared|sleepy)\b"
    r"|\bI(?:'m| am) (?:so |very |really )?(?:tired|hungry|sad|lonely|sleepy|scared)\b"
    r"|\bI (?:eat|sleep|breathe|went to school|live in a house)\b"
    r"|我是(?:一个|一位)?(?:真的?|真正的)?小?(?:人(?!工)|男孩|女孩|孩子?)|我有(?:身体|家人|爸爸|妈妈|朋友|感情)|我(?:很|好)?(?:饿|累|伤心|孤独|难过)了?",
    re.IGNORECASE,
)
QUESTION_ENDS = "?？"
SENTENCE_ENDS = ".!?。！？"


class ReplyStyle:
    """Decides, clause by clause, what of an LLM reply is spoken.

    `admit(clause)` returns the words to say, "" to drop the clause, or None to end the reply there.
    A reply is at most `max_sentences` sentences and about `max_words` words; one short question back
    may follow the answer within the word budget. A list marker ends the reply once something was said
    (a reply that opens with a list says its first item as a plain sentence); a clause in which the
    model claims to be a person, to have a body, a family or feelings is dropped.
    """

    def __init__(self, max_sentences: int = 2, max_words: int = 30):
        self.max_sentences = max_sentences
        self.max_words = max_words
        self.sentences = 0
        self.words = 0.0
        self.dropped: list[str] = []
        self.done = False

    def admit(self, clause: str) -> str | None:
        if self.done:
            return None
        item = LIST_MARKER.match(clause)
        if item:
            if self.words:
                return self._end()  # the answer came first; the list after it is not read out
            clause = clause[item.end():]  # a reply that opens with a list: its first item, as a plain sentence
            if not clause:
                return ""
        if PERSONA.search(clause):
            self.dropped.append(clause)
            return ""
        size = words(clause)
        if self.words and self.words + size > self.max_words:
            return self._end()
        is_question = clause.rstrip("\"')”’ ")[-1:] in QUESTION_ENDS
        if self.sentences >= self.max_sentences and not (is_question and self.sentences == self.max_sentences):
            return self._end()
        self.words += size
        if clause.rstrip("\"')”’ ")[-1:] in SENTENCE_ENDS:
            self.sentences += 1
            if self.sentences > self.max_sentences:
                self.done = True
        return clause

    def _end(self) -> None:
        self.done = True
        return None
