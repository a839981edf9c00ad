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
    with pytest.raises(DPRDataError, match=r"dev.jsonl.gz: not in the Hugging Face cache, and the Hub cannot be") as e:
        load_questions(f"hf://datasets/{TEVATRON_NQ}/dev.jsonl.gz")
    assert "\n" not in str(e.value) and e.value.__suppress_context__
    with pytest.raises(DPRDataError, match=r"name the file in the dataset"):
        load_questions(f"hf://datasets/{TEVATRON_NQ}")
    with pytest.raises(DPRDataError, match=r"hf://datasets/Tevatron: name a Hub dataset's file as hf://datasets/OWNER"):
        load_questions("hf://datasets/Tevatron")


@pytest.mark.parametrize(
    "error, said",
    [
        ("RepositoryNotFoundError", r"no dataset someone/gone on the Hub \(or a private one: log in"),
        ("EntryNotFoundError", r"the dataset someone/gone has no file 'train.jsonl' \(its Hub page lists them\)"),
    ],
)
def test_a_dataset_or_file_the_hub_does_not_have_is_one_line(monkeypatch, error, said):
    import huggingface_hub.errors

    def refuse(*args, **kwargs):
        import httpx

        kind = getattr(huggingface_hub.errors, error)
        url = "https://huggingface.co/api/datasets/someone/gone"
        try:  # an HTTP error of huggingface_hub takes the Hub's response; a local one does not
            raised = kind("404 from the Hub", response=httpx.Response(404, request=httpx.Request("GET", url)))
        except TypeError:
            raised = kind("404 from the Hub")
        raise raised

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    with pytest.raises(DPRDataError, match=said):
        load_questions("hf://datasets/someone/gone/train.jsonl")


def test_a_revision_reads_that_revisions_file(offline_hub, records):
    """`NAME@REVISION` (a tag, or a pull request's branch written %2F) reads that snapshot, not main's."""
    hub = offline_hub / "hf" / "hub" / f"datasets--{TEVATRON_NQ.replace('/', '--')}"
    older = "1" * 40
    write_tevatron(offline_hub / "older.jsonl.gz", records[:3])
    (hub / "snapshots" / older).mkdir()
    (offline_hub / "older.jsonl.gz").rename(hub / "snapshots" / older / "train.jsonl.gz")
    for ref in ("v1", "refs/pr/3"):
        (hub / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (hub / "refs" / ref).write_text(older)
    main = load_questions(f"hf://datasets/{TEVATRON_NQ}/train.jsonl.gz")
    assert len(main) == 40
    for revision in ("v1", "refs%2Fpr%2F3"):
        assert load_questions(f"hf://datasets/{TEVATRON_NQ}@{revision}/train.jsonl.gz") == main[:3]


# Parquet, and a `datasets.Dataset` in memory: the files and objects the `datasets` library itself writes and makes.


def write_with_datasets(path, records):
    """Tevatron's rows written by `datasets` (a Hub dataset's Parquet shard is this file)."""
    datasets = pytest.importorskip("datasets")
    rows = [tevatron_row(record, number) for number, record in enumerate(records)]
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    return path


def test_a_parquet_shard_reads_as_its_json_lines_copy_in_memory_and_on_disk(records, tmp_path):
    expected = load_dpr_file(write_tevatron(tmp_path / "train.jsonl.gz", records))
    parquet = write_with_datasets(tmp_path / "train-00000-of-00001.parquet", records)
    assert parquet.read_bytes()[:4] == b"PAR1"
    assert load_dpr_file(parquet) == expected
    assert load_dpr_file(parquet, max_samples=3) == expected[:3]
    on_disk = load_splits(tmp_path, parquet.name, records_on_disk=True)["train"]
    assert list(on_disk) == expected


def test_a_hub_datasets_parquet_file_is_fetched_and_read(offline_hub, records):
    write_with_datasets(offline_hub / "repo.parquet", records)
    files = offline_hub / "parquet-repo" / "data"
    files.mkdir(parents=True)
    (offline_hub / "repo.parquet").rename(files / "train-00000-of-00001.parquet")
    standins.hub_cache(offline_hub / "hf", datasets={"someone/nq-parquet": files.parent})
    questions = load_questions("hf://datasets/someone/nq-parquet/data/train-00000-of-00001.parquet")
    assert [e.question for e in questions] == [r["question"] for r in records]


def test_a_damaged_or_unreadable_parquet_file_is_one_line(records, tmp_path, monkeypatch):
    from dpr_nb.core.errors import MissingDependencyError

    parquet = write_with_datasets(tmp_path / "train.parquet", records)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(parquet.read_bytes()[:200])  # a download that stopped: the footer is missing
    with pytest.raises(DPRDataError, match=r"cut.parquet: cannot be read as Parquet .*download it again"):
        load_dpr_file(cut)
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)  # as where pyarrow is not installed
    with pytest.raises(MissingDependencyError, match=r"train.parquet is a Parquet file; .* pip install pyarrow"):
        load_dpr_file(parquet)


def test_a_datasets_dataset_evaluates_as_its_file_does(records, tmp_path):
    datasets = pytest.importorskip("datasets")
    from dpr_nb import DensePassageRetriever
    from dpr_nb.model.encoders import BiEncoder, tiny_encoder

    path = write_tevatron(tmp_path / "dev.jsonl.gz", records[:12])
    dataset = datasets.Dataset.from_list([tevatron_row(r, n) for n, r in enumerate(records[:12])])
    assert load_questions(dataset) == load_questions(path)
    assert load_questions(dataset.to_iterable_dataset(), max_samples=5) == load_questions(path)[:5]  # streamed
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    retriever = DensePassageRetriever(model=BiEncoder(tiny_encoder(), tiny_encoder()), use_gpu=False)
    from dpr_nb.evaluation.report import report_numbers

    report = retriever.evaluate(dataset, batch_size=4)
    assert report_numbers(report) == report_numbers(retriever.evaluate(path, batch_size=4))
    assert report["num_questions"] == 12 and len(report["question_ranks"]) == 12


def test_a_bad_row_of_a_dataset_names_its_row_and_field(records, tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [tevatron_row(r, n) for n, r in enumerate(records[:4])]
    rows[2]["query"] = " "
    with pytest.raises(DPRDataError, match=r"Dataset of records\[2\]: field 'query' must be a non-empty string"):
        load_questions(datasets.Dataset.from_list(rows))
    with pytest.raises(DPRDataError, match=r"expected a file path or an iterable of records .* got int"):
        load_questions(7)
    examples = load_dpr_file(write_tevatron(tmp_path / "two.jsonl.gz", records[:2]))
    assert all(a is b for a, b in zip(load_questions(examples), examples))  # DPRExamples are taken as they are
