"""The turn-words model: the shipped file is what the data trains, it reads half a question as unfinished,
and it refuses a damaged file with what to do."""

import json

import pytest
from conftest import edited_json

from hootkit.cli import main as hoot
from hootkit.pipeline import train_turn_words
from hootkit.pipeline.turn_words import WEIGHTS, TurnWords, TurnWordsError, bare, features, tokens
from hootkit.safety.semantic import SentenceEncoder
from hootkit.settings import Settings

pytestmark = pytest.mark.timeout(180)
THRESHOLD = Settings().vad.turn_words_threshold
ROOT = train_turn_words.ROOT


@pytest.fixture(scope="module")
def words() -> TurnWords:
    return TurnWords(SentenceEncoder())


def test_hoot_turn_words_train_reproduces_the_shipped_file(capsys):
    assert hoot(["turn-words", "train", "--check-only"]) == 0, "the data changed: run `hoot turn-words train` and commit turn_words.json"
    assert "matches" in capsys.readouterr().out


def test_training_writes_a_file_that_loads(tmp_path, words):
    out = tmp_path / "turn_words.json"
    assert train_turn_words.main(out, encoder=words.encoder, report=False) == 0
    assert TurnWords(words.encoder, out).probability("why do we have to") == pytest.approx(words.probability("why do we have to"), abs=0.01)


def test_a_change_to_the_features_is_noticed_by_the_check():
    shipped = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    changed = {**shipped, "weights": {**shipped["weights"], "last=a new feature": 0.5}}
    assert train_turn_words.same_model(shipped, shipped)
    assert not train_turn_words.same_model(shipped, changed) and not train_turn_words.same_model(changed, shipped)


def test_another_sentence_encoder_is_refused(tmp_path, words):
    class Shifted:
        def encode(self, texts):
            return words.encoder.encode(texts)[:, ::-1]

    with pytest.raises(TurnWordsError, match="another sentence encoder"):
        TurnWords(Shifted())


def test_training_without_its_data_says_where_to_train(tmp_path, capsys):
    with pytest.raises(train_turn_words.TrainingDataMissing, match="source checkout"):
        train_turn_words.examples(tmp_path)


@pytest.mark.parametrize("text", [
    "Why do you need to?", "How many legs does a", "Is a dolphin a fish or?", "Why do birds fly south in",
    "I want to go to the", "Where do penguins", "我觉得答案是", "企鹅会不会",
])
def test_half_a_sentence_reads_unfinished(words, text):
    """Probes written for this test, in no data set (a floor, not a result: see bench/hearing.py)."""
    assert words.probability(text) < THRESHOLD


@pytest.mark.parametrize("text", [
    "How many legs does a spider have?", "Why is the sky blue?", "Eight.", "Yes", "I don't know",
    "Tell me a joke", "Can you help me with my homework?", "蜘蛛有几条腿？", "He hit me",
])
def test_a_whole_sentence_reads_finished(words, text):
    assert words.probability(text) >= THRESHOLD


def test_no_training_line_is_in_the_hearing_sets():
    """bench/hearing's sets measure the model: a line in both would be marked on what it was taught. (Short
    openings like "Why do" are in both as unfinished pieces, as they are in any two sets of questions.)"""
    hearing = {bare(json.loads(line)["text"]) for name in ("dev", "heldout")
               for line in (ROOT / "bench" / "hearing" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()}
    texts, labels, *_ = train_turn_words.examples()
    assert not hearing & {bare(text) for text, label in zip(texts, labels) if label == 1}


def test_punctuation_and_numbers_do_not_change_the_reading():
    assert tokens("What's 7 times 8?") == tokens("what's 12 times 3") == ["what's", "#", "times", "#"]
    assert features("Why do we have to?") == features("why do we have to")


@pytest.mark.parametrize("damage, says", [
    (lambda text: text[: len(text) // 2], "unreadable"),
    (edited_json(lambda spec: spec.pop("bias")), "incomplete"),
    (edited_json(lambda spec: spec["embedding_weights"].pop()), "checksum"),
    (edited_json(lambda spec: spec["probes"].__setitem__("why do we have to", 0.99)), "checksum"),
    (edited_json(lambda spec: spec.__setitem__("probes", {})), "probe sentences"),
    (edited_json(lambda spec: spec["weights"].__setitem__("last=to", 9.9)), "checksum"),
    (edited_json(lambda spec: spec.__setitem__("bias", float("nan"))), "not finite"),
    (lambda text: json.dumps({"format": "something else"}), "not a hootkit-turn-words-1 file"),
])
def test_a_damaged_file_is_refused_with_what_to_do(tmp_path, words, damage, says):
    path = tmp_path / "turn_words.json"
    path.write_text(damage(WEIGHTS.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(TurnWordsError, match=says) as refused:
        TurnWords(words.encoder, path)
    assert "hoot turn-words train" in str(refused.value) and 'turn_words_model = "off"' in str(refused.value)


def test_a_missing_file_is_refused(tmp_path, words):
    with pytest.raises(TurnWordsError, match="missing"):
        TurnWords(words.encoder, tmp_path / "nowhere.json")
