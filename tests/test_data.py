import gzip
import json
from collections import Counter

import pytest

from conftest import DPR_SAMPLES, need
from dpr_nb.data.batches import collate
from dpr_nb.data.dpr_file import BatchSampler, DPRDataError, DPRExample, Passage, load_dpr_file
from dpr_nb.data.splits import load_splits
from dpr_nb.model.encoders import tiny_encoder


def record(**changes):
    base = {
        "dataset": "toy",
        "question": "where is velmora?",
        "answers": ["kestria"],
        "positive_ctxs": [{"title": "Velmora", "text": "Velmora is a town in Kestria.", "passage_id": "1"}],
        "negative_ctxs": [],
        "hard_negative_ctxs": [{"title": "Dorvan", "text": "Dorvan is in Osk.", "passage_id": "2"}],
    }
    base.update(changes)
    return base


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------------
# The real files in ../shared/data/dpr-samples


def test_reads_haystack_sample_json_list():
    examples = load_dpr_file(need(DPR_SAMPLES / "haystack_nq_dev_sample5.json"))
    assert len(examples) == 5
    assert examples[0].question == "who sings does he love me with reba"
    assert examples[0].answers == ["Linda Davis"]


def test_nq_gold_passage_listed_twice_is_kept_once():
    path = need(DPR_SAMPLES / "nq_dev_first10.jsonl")
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    examples = load_dpr_file(path)
    assert len(examples) == 10
    for raw_record, example in zip(raw, examples):
        distinct_ids = {c["passage_id"] for c in raw_record["positive_ctxs"]}
        assert len(example.positives) == len(distinct_ids)
        assert len(example.negatives) == 50
        positive_ids = {p.passage_id for p in example.positives}
        assert not positive_ids & {p.passage_id for p in example.hard_negatives}
    # The first record lists its gold passage 11828866 twice (score 1000, then its BM25 score).
    assert [c["passage_id"] for c in raw[0]["positive_ctxs"]].count("11828866") == 2
    assert [p.passage_id for p in examples[0].positives].count("11828866") == 1


def test_squad_file_uses_psg_id():
    examples = load_dpr_file(need(DPR_SAMPLES / "squad1_dev_first10.jsonl"))
    assert len(examples) == 10
    assert all(p.passage_id is not None for e in examples for p in e.positives + e.hard_negatives)
    assert sum(len(e.negatives) for e in examples) == 500
    assert examples[0].answers == ["1987"]


def test_max_samples_and_gzip(tmp_path):
    source = need(DPR_SAMPLES / "nq_dev_first10.jsonl")
    zipped = tmp_path / "nq.jsonl.gz"
    zipped.write_bytes(gzip.compress(source.read_bytes()))
    examples = load_dpr_file(zipped, max_samples=3)
    assert [e.question for e in examples] == [e.question for e in load_dpr_file(source)[:3]]


# ---------------------------------------------------------------------------------------------------------------
# Bad input: the file, the record, the field and what to do


@pytest.mark.parametrize(
    "changes, field_name, fix",
    [
        ({"question": None}, "'question'", "needs the question"),
        ({"question": "   "}, "'question'", "needs the question"),
        ({"positive_ctxs": []}, "'positive_ctxs' is empty", "add its gold passage"),
        ({"positive_ctxs": "Velmora"}, "'positive_ctxs' must be a list", "list of contexts"),
        ({"hard_negative_ctxs": {"text": "x"}}, "'hard_negative_ctxs' must be a list", "may be empty"),
        ({"positive_ctxs": [{"title": "T", "text": ""}]}, "positive_ctxs[0]: field 'text'", "passage text"),
        ({"positive_ctxs": [{"title": 3, "text": "abc"}]}, "field 'title' must be a string", ""),
        ({"answers": "kestria"}, "'answers' must be a list of strings", ""),
    ],
)
def test_bad_record_names_file_record_field_and_fix(tmp_path, changes, field_name, fix):
    path = write_jsonl(tmp_path / "train.jsonl", [record(), record(), record(**changes)])
    with pytest.raises(DPRDataError) as error:
        load_dpr_file(path)
    message = str(error.value)
    assert str(path) in message and "record 3 (line 3)" in message
    assert field_name in message and fix in message


def test_record_that_is_not_an_object(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps([record(), ["not", "a", "record"]]))
    with pytest.raises(DPRDataError, match=r"train.json, record 2: expected a JSON object"):
        load_dpr_file(path)


def test_half_a_surrogate_pair_reads_as_a_question_mark_as_ijson_reads_a_first_half(tmp_path):
    # "\\ud83d" alone (an emoji cut in two) is valid JSON, which json.loads keeps; UTF-8, the tokenizers and every
    # file written from the text refuse it, far from this record. ijson (JSON lists) reads a first half as "?".
    cut = {
        "question": "cut \ud83d here?",
        "answers": ["a"],
        "positive_ctxs": [{"title": "T", "text": "whole 🙂, cut \ud83d.", "passage_id": ""}],
    }
    (tmp_path / "train.json").write_text(json.dumps([cut]))
    (tmp_path / "train.jsonl").write_text(json.dumps(cut) + "\n")
    [from_list], [from_lines] = load_dpr_file(tmp_path / "train.json"), load_dpr_file(tmp_path / "train.jsonl")
    assert from_lines == from_list
    assert (from_lines.question, from_lines.positives[0].text) == ("cut ? here?", "whole 🙂, cut ?.")
    assert from_lines.positives[0].stable_id == from_list.positives[0].stable_id  # an id from the text, in both
    # A second half alone reads as "?" from JSON Lines; ijson cannot read it: one line naming the record.
    cut["positive_ctxs"][0]["text"] = "the other half \ude42"
    (tmp_path / "train.jsonl").write_text(json.dumps(cut) + "\n")
    assert load_dpr_file(tmp_path / "train.jsonl")[0].positives[0].text == "the other half ?"
    cut["positive_ctxs"][0]["text"] = "C:\\ud83d\ude42"  # a backslash, "ud83d", and a second half alone
    (tmp_path / "train.jsonl").write_text(json.dumps(cut) + "\n")
    assert load_dpr_file(tmp_path / "train.jsonl")[0].positives[0].text == "C:\\ud83d?"
    (tmp_path / "train.json").write_text(json.dumps([record(), cut]))
    with pytest.raises(
        DPRDataError, match=r"train.json, record 2: text that is not UTF-8: half of a surrogate pair.*Fix that record"
    ):
        load_dpr_file(tmp_path / "train.json")


def test_ijsons_python_parser_reads_half_a_surrogate_pair_as_a_question_mark_too(tmp_path, monkeypatch):
    import types

    import ijson

    from dpr_nb.data import dpr_file

    # Where ijson's C extension is missing, its Python parser keeps both halves as they are: each record is looked at.
    python_parser = ijson.get_backend("python")
    monkeypatch.setattr(
        dpr_file, "ijson", types.SimpleNamespace(items=python_parser.items, backend="python", JSONError=ijson.JSONError)
    )
    (tmp_path / "train.json").write_text(json.dumps([{**record(), "question": "cut \ud83d and \ude42?"}]))
    # ascii(): a failure's message with half a pair in it cannot travel from a pytest-xdist worker
    assert ascii(load_dpr_file(tmp_path / "train.json")[0].question) == ascii("cut ? and ??")


def test_invalid_json_in_the_middle(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(record()) + "\n{'question': oops}\n" + json.dumps(record()) + "\n")
    with pytest.raises(DPRDataError, match=r"invalid JSON at line 2.*fix the JSON"):
        load_dpr_file(path)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_truncated_file_says_so(tmp_path, suffix):
    path = tmp_path / f"train{suffix}"
    text = (
        json.dumps([record(), record()])
        if suffix == ".json"
        else "".join(json.dumps(r) + "\n" for r in [record(), record()])
    )
    path.write_text(text[: len(text) - 40])
    with pytest.raises(DPRDataError, match="truncated: download it again"):
        load_dpr_file(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "train.json.gz"
    path.write_bytes(gzip.compress(json.dumps([record()] * 50).encode())[:-30])
    with pytest.raises(DPRDataError, match="truncated or corrupt"):
        load_dpr_file(path)


def test_missing_file_and_wrong_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_dir"):
        load_dpr_file(tmp_path / "absent.json")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DPRDataError, match="expected a JSON list"):
        load_dpr_file(tmp_path / "notes.txt")


def test_absent_negative_lists_are_empty(tmp_path):
    minimal = {"question": "q?", "positive_ctxs": [{"title": "t", "text": "a passage"}]}
    (example,) = load_dpr_file(write_jsonl(tmp_path / "min.jsonl", [minimal]))
    assert example.hard_negatives == [] and example.negatives == [] and example.answers == []


# ---------------------------------------------------------------------------------------------------------------
# Sampling and batches


def toy_examples(n=6, hard=2):
    return [
        DPRExample(
            f"question {i}",
            [],
            [Passage(f"title {i}", f"positive {i}", f"p{i}")],
            [Passage(f"title {i}", f"hard {i}.{j}", f"h{i}.{j}") for j in range(hard)],
            [Passage("random", f"random {i}", f"r{i}")],
        )
        for i in range(n)
    ]


def test_sampler_is_seeded_and_reshuffles_every_epoch():
    examples = toy_examples()
    first = [[(e.question, tuple(p.key for p in n)) for e, _, n in b] for b in BatchSampler(examples, 4, seed=1)]
    again = [[(e.question, tuple(p.key for p in n)) for e, _, n in b] for b in BatchSampler(examples, 4, seed=1)]
    assert first == again
    sampler = BatchSampler(examples, 6, num_hard_negatives=1, seed=1)
    epochs = [[(e.question, n[0].key) for e, _, n in next(iter(sampler))] for _ in range(8)]
    assert len(set(map(tuple, epochs))) > 1  # order and hard negatives change between epochs


def test_short_of_hard_negatives_tops_up_without_empty_passages():
    examples = toy_examples(n=5, hard=1)
    for batch in BatchSampler(examples, 5, num_hard_negatives=3, seed=0):
        for example, positives, negatives in batch:
            assert len(negatives) == 3 and all(p.text.strip() for p in negatives)
            assert example.hard_negatives[0] in negatives  # its own hard negative comes first
            assert example.negatives[0] in negatives  # then its random negative
            assert not {p.key for p in positives} & {p.key for p in negatives}


def test_embed_title_makes_a_text_pair_with_zero_token_types():
    encoder = tiny_encoder()
    items = next(iter(BatchSampler(toy_examples(2), 2, num_hard_negatives=1, shuffle=False)))
    batch = collate(items, encoder.tokenizer, encoder.tokenizer, 16, 16, embed_title=True)
    tokens = encoder.tokenizer.convert_ids_to_tokens(batch.passage["input_ids"][0])
    # "[CLS] title 0 [SEP] positive 0 [SEP]": the title's two tokens, then the separator, then the text.
    assert tokens[0] == "[CLS]" and tokens[3] == "[SEP]" and tokens[6] == "[SEP]"
    assert tokens.count("[SEP]") == 2
    assert batch.passage["token_type_ids"].eq(0).all()
    assert batch.positive_mask.tolist() == [[True, False, False, False], [False, False, True, False]]
    without = collate(items, encoder.tokenizer, encoder.tokenizer, 16, 16, embed_title=False)
    assert encoder.tokenizer.convert_ids_to_tokens(without.passage["input_ids"][0]).count("[SEP]") == 1


def test_shared_gold_passage_is_positive_for_both_questions():
    shared = Passage("t", "shared gold", "g")
    examples = [
        DPRExample("a?", [], [shared], [Passage("t", "x", "x")]),
        DPRExample("b?", [], [shared], [Passage("t", "y", "y")]),
    ]
    encoder = tiny_encoder()
    items = next(iter(BatchSampler(examples, 2, shuffle=False)))
    batch = collate(items, encoder.tokenizer, encoder.tokenizer, 8, 8, True)
    assert len(batch.passage["input_ids"]) == 3  # the shared passage is encoded once
    assert batch.positive_mask.tolist() == [[True, False, False], [True, False, False]]


def test_builtin_splits_keep_their_own_dev_set():
    splits = load_splits("builtin", "", max_samples=50, dev_split=0.2)
    assert len(splits["train"]) == 50 and len(splits["dev"]) > 0 and len(splits["test"]) > 0
    assert Counter(type(e) for e in splits["test"]) == {DPRExample: len(splits["test"])}


def test_dev_split_holds_out_training_questions_without_a_dev_file(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [record(question=f"question {i}?") for i in range(10)])
    splits = load_splits(tmp_path, "train.jsonl", dev_split=0.2, seed=3)
    assert len(splits["train"]) == 8 and len(splits["dev"]) == 2
    assert not {e.question for e in splits["train"]} & {e.question for e in splits["dev"]}


def test_several_positives_are_all_marked_for_their_question():
    example = DPRExample("q?", [], [Passage("t", f"gold {i}", f"g{i}") for i in range(3)], [Passage("t", "h", "h")])
    other = DPRExample("r?", [], [Passage("t", "other gold", "o")], [Passage("t", "x", "x")])
    encoder = tiny_encoder()
    items = next(iter(BatchSampler([example, other], 2, num_positives=2, shuffle=True, seed=0)))
    batch = collate(items, encoder.tokenizer, encoder.tokenizer, 8, 8, True)
    rows = {e.question: row for (e, _, _), row in zip(items, batch.positive_mask.tolist())}
    assert sum(rows["q?"]) == 2 and sum(rows["r?"]) == 1  # two distinct golds for q; r's one gold, brought once
    assert not any(a and b for a, b in zip(rows["q?"], rows["r?"]))


def test_a_negative_that_is_a_positive_by_id_or_by_its_title_and_text_is_left_out(tmp_path):
    """Listed as a negative, the gold passage would be pushed away from its question: it is dropped by its id, and
    by its title and text under another id or none; repeats of a real negative are kept once."""
    gold = {"title": "Velmora", "text": "Velmora lies on the river Osk.", "passage_id": "1"}
    other = {"title": "Velmora", "text": "Osk is a river.", "passage_id": "3"}
    copies = [
        {**gold, "passage_id": "2"},  # its text under another id
        {"title": "Velmora", "text": gold["text"]},  # its text without an id
        {**other, "passage_id": "1"},  # another text under its id
        other,
        other,
    ]
    path = write_jsonl(
        tmp_path / "train.jsonl", [record(positive_ctxs=[gold], hard_negative_ctxs=copies, negative_ctxs=copies)]
    )
    (example,) = load_dpr_file(path)
    assert example.positives == [Passage("Velmora", gold["text"], "1")]
    assert example.hard_negatives == example.negatives == [Passage("Velmora", "Osk is a river.", "3")]
