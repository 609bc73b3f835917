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


def test_chinese_sentences_end_at_their_marks_without_a_space():
    clauses, splitter = feed(["蜘蛛有", "八条腿。", "你能数", "一数吗？", "它们会", "织网！"])
    assert clauses == ["蜘蛛有八条腿。", "你能数一数吗？", "它们会织网！"]
    assert splitter.sentences == 3


def test_a_chinese_first_clause_may_end_at_a_chinese_comma():
    clauses, _ = feed(["月亮自己", "不会发光，", "它反射", "太阳的光。"])
    assert clauses == ["月亮自己不会发光，", "它反射太阳的光。"]


def test_a_long_chinese_clause_is_cut_although_it_has_no_spaces():
    clauses, _ = feed(["太阳是一颗非常非常大的恒星它离我们大约一亿五千万公里远"], first_max_words=10)
    assert len(clauses) == 2 and len(clauses[0]) == 20  # ten words: a Chinese character counts as half a word
    assert "".join(clauses) == "太阳是一颗非常非常大的恒星它离我们大约一亿五千万公里远"
