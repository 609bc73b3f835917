"""Clause splitting of streamed LLM text."""

from hootkit.pipeline.clauses import ClauseSplitter


def feed(pieces, **options):
    splitter = ClauseSplitter(**options)
    out = []
    for piece in pieces:
        out += splitter.push(piece)
    return out + splitter.flush(), splitter


def test_sentences_end_when_the_next_word_starts():
    clauses, splitter = feed(["A spider", " has eight", " legs.", " Can you", " count", " them?"])
    assert clauses == ["A spider has eight legs.", "Can you count them?"]
    assert splitter.sentences == 2


def test_first_clause_may_end_at_a_comma_after_a_few_words():
    clauses, _ = feed(["Well, spiders", " are great,", " and they have", " eight legs, you", " know."])
    assert clauses == ["Well, spiders are great,", "and they have eight legs, you know."]


def test_decimals_and_trailing_dots_do_not_split():
    clauses, _ = feed(["Pi is about", " 3", ".", "14 and", " more."])
    assert clauses == ["Pi is about 3.14 and more."]


def test_long_first_clause_is_cut_at_a_space():
    words = " ".join(f"w{i}" for i in range(14))
    clauses, _ = feed([words + " "], first_max_words=10)
    assert clauses[0] == " ".join(f"w{i}" for i in range(13))
    assert len(clauses) == 2


def test_markdown_is_dropped_and_empty_clauses_skipped():
    clauses, _ = feed(["**Eight** legs! 🕷️", " ... ", "\n", "Yes 🌟."])
    assert clauses == ["Eight legs!", "...", "Yes."]
