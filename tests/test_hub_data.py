"""Data in the layouts people keep it in on the Hugging Face Hub: Tevatron's dense-retrieval rows (its copies of DPR's
NQ and TriviaQA, MS MARCO, ...) read as DPR records, and Hub datasets' files named hf://datasets/OWNER/NAME/FILE,
fetched through the Hugging Face cache (a stand-in cache here, offline)."""

import gzip
import json

import huggingface_hub
import pytest
import standins

from dpr_nb.data.builtin_data import make_builtin_dataset
from dpr_nb.data.dpr_file import DPRDataError, load_dpr_file
from dpr_nb.data.splits import load_questions, load_splits

TEVATRON_NQ = "Tevatron/wikipedia-nq"


def tevatron_row(record: dict, number: int) -> dict:
    """A DPR record in Tevatron's layout, as its wikipedia-nq files hold DPR's NQ (ids under "docid")."""

    def passage(ctx):
        return {"docid": ctx["passage_id"], "title": ctx["title"], "text": ctx["text"]}

    return {
        "query_id": str(number),
        "query": record["question"],
        "answers": record["answers"],
        "positive_passages": [passage(c) for c in record["positive_ctxs"]],
        "negative_passages": [passage(c) for c in record["hard_negative_ctxs"]],
    }


@pytest.fixture
def records():
    return make_builtin_dataset()["train"][:40]


def write_tevatron(path, records):
    with gzip.open(path, "wt", encoding="utf-8") as out:  # Tevatron publishes train.jsonl.gz
        for number, record in enumerate(records):
            out.write(json.dumps(tevatron_row(record, number)) + "\n")
    return path


def test_tevatron_rows_read_as_the_same_questions_as_their_dpr_records(records, tmp_path):
    dpr = tmp_path / "train.json"
    dpr.write_text(json.dumps([{k: v for k, v in r.items() if k != "negative_ctxs"} for r in records]))
    tevatron = load_dpr_file(write_tevatron(tmp_path / "train.jsonl.gz", records))
    expected = load_dpr_file(dpr)
    assert [e.question_id for e in tevatron] == [str(n) for n in range(40)]
    for example in tevatron:
        example.question_id = None
    assert tevatron == expected  # question, answers, positives and hard negatives, passage ids included


def test_a_tevatron_row_without_positives_names_its_own_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"query_id": "7", "query": "who?", "negative_passages": []}) + "\n")
    with pytest.raises(DPRDataError, match=r"bad.jsonl, record 1 \(line 1\): field 'positive_passages' must be a list"):
        load_dpr_file(path)


@pytest.fixture
def offline_hub(tmp_path, monkeypatch, records):
    """A Hugging Face cache holding Tevatron/wikipedia-nq's train.jsonl.gz (40 built-in questions), offline."""
    files = tmp_path / "repo"
    files.mkdir()
    write_tevatron(files / "train.jsonl.gz", records)
    standins.hub_cache(tmp_path / "hf", datasets={TEVATRON_NQ: files})
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return tmp_path


def test_a_hub_datasets_file_trains_through_the_cache_and_the_card_names_the_dataset(offline_hub):
    from dpr_nb import TrainConfig
    from dpr_nb.training.model_card import hub_metadata
    from dpr_nb.training.train import train_model

    data_dir = f"hf://datasets/{TEVATRON_NQ}"
    splits = load_splits(data_dir, "train.jsonl.gz", dev_split=0.25)
    assert (len(splits["train"]), len(splits["dev"])) == (30, 10)
    questions = load_questions(f"{data_dir}/train.jsonl.gz")
    assert [e.question_id for e in questions[:2]] == ["0", "1"]

    config = TrainConfig.preset("smoke", data_dir=data_dir, train_filename="train.jsonl.gz", dev_filename=None)
    trained = train_model(config.replace(n_epochs=1, save_dir=str(offline_hub / "model")))
    assert len(trained.history.steps) == 40 // config.batch_size + (40 % config.batch_size > 0)
    assert hub_metadata(config=trained.config).datasets == [TEVATRON_NQ]
    card = (offline_hub / "model" / "README.md").read_text()
    assert f"- {TEVATRON_NQ}" in card.split("---")[1]  # in the card's metadata block


def test_a_hub_file_missing_offline_is_one_line_that_says_what_to_do(offline_hub):
    with pytest.raises(DPRDataError, match=r"dev.jsonl.gz: not in the Hugging Face cache, and the Hub cannot be"):
        load_questions(f"hf://datasets/{TEVATRON_NQ}/dev.jsonl.gz")
    with pytest.raises(DPRDataError, match=r"name the file in the dataset"):
        load_questions(f"hf://datasets/{TEVATRON_NQ}")
