"""Tests for the built-in fictional-encyclopedia dataset (dpr_nb.data.builtin_data)."""

import json
import math
import re
from collections import Counter

import pytest

from dpr_nb.data.builtin_data import (
    BUILTIN_SEED,
    EXAMPLE_QUESTIONS,
    builtin_passages,
    builtin_vocabulary,
    make_builtin_dataset,
    write_builtin_dataset,
)

SPLITS = ("train", "dev", "test")
RECORD_KEYS = {"dataset", "question", "answers", "positive_ctxs", "negative_ctxs", "hard_negative_ctxs"}
CTX_KEYS = {"title", "text", "score", "title_score", "passage_id"}


def tokenize(text):
    """What BERT's BasicTokenizer does to ASCII text: lowercase, split on whitespace
    and around every punctuation character."""
    return re.findall(r"\w+|[^\w\s]", text.lower())


def all_ctxs(record):
    return record["positive_ctxs"] + record["negative_ctxs"] + record["hard_negative_ctxs"]


@pytest.fixture(scope="module")
def data():
    return make_builtin_dataset()


def test_same_seed_gives_identical_output(data):
    assert json.dumps(make_builtin_dataset(BUILTIN_SEED)) == json.dumps(data)
    assert builtin_passages() == builtin_passages(BUILTIN_SEED)
    assert builtin_vocabulary() == builtin_vocabulary(BUILTIN_SEED)


def test_different_seed_gives_different_output(data):
    assert json.dumps(make_builtin_dataset(1)) != json.dumps(data)
    assert builtin_passages(1) != builtin_passages()


def test_split_sizes(data):
    assert list(data) == list(SPLITS)
    assert 400 <= len(data["train"]) <= 600
    for split in ("dev", "test"):
        assert 80 <= len(data[split]) <= 120


def test_records_follow_the_dpr_format(data):
    for split in SPLITS:
        for record in data[split]:
            assert set(record) == RECORD_KEYS
            assert record["dataset"] == "dpr_nb_builtin"
            assert record["question"].endswith("?")
            assert len(record["answers"]) == 1 and record["answers"][0]
            assert len(record["positive_ctxs"]) == 1
            assert 2 <= len(record["negative_ctxs"]) <= 3
            assert 3 <= len(record["hard_negative_ctxs"]) <= 5
            town = record["positive_ctxs"][0]["title"]
            for ctx in all_ctxs(record):
                assert set(ctx) == CTX_KEYS
                assert isinstance(ctx["passage_id"], str)
                assert isinstance(ctx["score"], float)
                assert ctx["title_score"] == int(ctx["title"] == town)


def test_questions_are_unique_within_each_split(data):
    for split in SPLITS:
        questions = [r["question"] for r in data[split]]
        assert len(set(questions)) == len(questions)


def test_no_passage_is_shared_between_splits(data):
    # Stronger than "no shared positive": dev/test passages never appear in train at all.
    ids = {split: {c["passage_id"] for r in data[split] for c in all_ctxs(r)} for split in SPLITS}
    positives = {split: {r["positive_ctxs"][0]["passage_id"] for r in data[split]} for split in SPLITS}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert not positives[a] & positives[b]
        assert not ids[a] & ids[b]


def test_every_dev_and_test_town_name_word_is_seen_in_train(data):
    # Towns are split apart, but their name words are not, so a word-level vocabulary
    # trains the embedding of every word a dev/test question uses to name its town.
    train_words = {w for r in data["train"] for w in tokenize(r["positive_ctxs"][0]["title"])}
    for split in ("dev", "test"):
        for record in data[split]:
            assert set(tokenize(record["positive_ctxs"][0]["title"])) <= train_words


def test_positive_contains_answer_and_negatives_do_not(data):
    for split in SPLITS:
        for record in data[split]:
            answer = record["answers"][0]
            assert answer in record["positive_ctxs"][0]["text"]
            for ctx in record["hard_negative_ctxs"] + record["negative_ctxs"]:
                assert answer not in ctx["text"]


def test_hard_negatives_differ_from_the_positive(data):
    for record in data["train"]:
        positive = record["positive_ctxs"][0]
        hard_ids = [c["passage_id"] for c in record["hard_negative_ctxs"]]
        assert len(set(hard_ids)) == len(hard_ids)
        for ctx in record["hard_negative_ctxs"]:
            assert ctx["passage_id"] != positive["passage_id"]
            assert ctx["text"] != positive["text"]


def test_hard_negatives_mix_same_entity_and_same_fact_confusers(data):
    for record in data["train"]:
        title = record["positive_ctxs"][0]["title"]
        titles = [c["title"] for c in record["hard_negative_ctxs"]]
        assert title in titles  # same town, other facts
        assert any(t != title for t in titles)  # other towns, same kind of fact

    # Hard negatives share more words with the question than random negatives do.
    def mean(key):
        return sum(c["score"] for r in data["train"] for c in r[key]) / sum(len(r[key]) for r in data["train"])

    assert mean("hard_negative_ctxs") > mean("negative_ctxs") + 0.5


def test_task_is_learnable_by_lexical_matching(data):
    # An IDF-weighted word-overlap retriever over the whole corpus should find most
    # positives (it needs both the town name and the fact word), but not all of them.
    corpus = builtin_passages()
    words = [set(tokenize(p["title"] + " " + p["text"])) for p in corpus]
    df = Counter(w for ws in words for w in ws)
    idf = {w: math.log(len(corpus) / n) for w, n in df.items()}
    hits = 0
    for record in data["test"]:
        q = set(tokenize(record["question"]))
        scores = [sum(idf[w] for w in q & ws) for ws in words]
        best = corpus[scores.index(max(scores))]
        hits += best["passage_id"] == record["positive_ctxs"][0]["passage_id"]
    assert 0.6 <= hits / len(data["test"]) < 1.0


def test_passages_are_the_unique_corpus_behind_every_context(data):
    corpus = builtin_passages()
    by_id = {p["passage_id"]: p for p in corpus}
    assert len(by_id) == len(corpus)
    assert all(set(p) == {"passage_id", "title", "text"} for p in corpus)
    for split in SPLITS:
        for record in data[split]:
            for ctx in all_ctxs(record):
                passage = by_id[ctx["passage_id"]]
                assert (passage["title"], passage["text"]) == (ctx["title"], ctx["text"])


def test_text_is_plain_ascii(data):
    texts = [p["title"] + p["text"] for p in builtin_passages()]
    texts += [r["question"] + r["answers"][0] for s in SPLITS for r in data[s]]
    assert all(t.isascii() and "_" not in t for t in texts)


def test_vocabulary_covers_every_token(data):
    vocab = builtin_vocabulary()
    assert vocab == sorted(set(vocab))
    assert len(vocab) < 2000
    texts = [p["title"] + " " + p["text"] for p in builtin_passages()]
    for split in SPLITS:
        for record in data[split]:
            texts += [record["question"], *record["answers"]]
            texts += [c["title"] + " " + c["text"] for c in all_ctxs(record)]
    tokens = {t for text in texts for t in tokenize(text)}
    assert tokens <= set(vocab)


def test_write_round_trips_through_json(tmp_path, data):
    out_dir = tmp_path / "not" / "yet" / "there"
    paths = write_builtin_dataset(out_dir)
    assert set(paths) == set(SPLITS)
    for split, path in paths.items():
        assert path == out_dir / f"{split}.json"
        with open(path, encoding="utf-8") as f:
            assert json.load(f) == data[split]
    assert sorted(p.name for p in out_dir.iterdir()) == ["dev.json", "test.json", "train.json"]
    write_builtin_dataset(out_dir)  # overwriting works and leaves no temporary files
    assert len(list(out_dir.iterdir())) == 3


def test_example_questions_come_from_the_test_split(data):
    test_questions = {r["question"]: r for r in data["test"]}
    assert len(EXAMPLE_QUESTIONS) == 3
    assert all(q in test_questions for q in EXAMPLE_QUESTIONS)
    towns = {test_questions[q]["positive_ctxs"][0]["title"] for q in EXAMPLE_QUESTIONS}
    assert len(towns) == 3
