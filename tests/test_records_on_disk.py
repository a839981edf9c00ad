import json
import os
import pickle

import numpy as np
import pytest

from conftest import DPR_SAMPLES, need
from dpr_nb import TrainConfig
from dpr_nb.cli import main
from dpr_nb.data import records_on_disk as records_module
from dpr_nb.data.builtin_data import write_builtin_dataset
from dpr_nb.data.dpr_file import BatchSampler, DPRDataError, load_dpr_file
from dpr_nb.data.records_on_disk import DPRFileOnDisk
from dpr_nb.data.splits import load_splits, load_training_data
from dpr_nb.model.encoders import BiEncoder, tiny_encoder
from dpr_nb.training.trainer import Trainer


def toy_records(n, prefix="question"):
    return [
        {
            "question": f"{prefix} {i}?",
            "answers": [f"a{i}"],
            "positive_ctxs": [{"title": f"T{i}", "text": f"gold {i}", "passage_id": f"p{i}", "score": 1.0}],
            "hard_negative_ctxs": [{"title": "H", "text": f"hard {i}", "passage_id": f"h{i}"}],
        }
        for i in range(n)
    ]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["haystack_nq_dev_sample5.json", "nq_dev_first10.jsonl"])
def test_records_reads_back_exactly_what_the_streaming_reader_parses(tmp_path, name):
    source = need(DPR_SAMPLES / name)
    expected = load_dpr_file(source)
    examples = DPRFileOnDisk.build(source, tmp_path / "records")
    assert len(examples) == len(expected)
    assert list(examples) == expected  # dataclass equality: question, answers and every passage
    assert examples[-1] == expected[-1]
    assert list(examples[1:4:2]) == expected[1:4:2]
    assert list(examples.subset([3, 0]).subset([1])) == [expected[0]]
    with pytest.raises(IndexError):
        examples[len(expected)]
    assert list(pickle.loads(pickle.dumps(examples.subset([2, 1])))) == [expected[2], expected[1]]


def test_records_lines_are_ascii_unless_mostly_escapes_and_a_utf8_folder_reads_the_same(tmp_path):
    records = toy_records(4)
    records[0]["positive_ctxs"][0].update(title="Zürich", text="東京 — naïve café 🙂 and much more English text")
    records[1]["question"] = "Где находится Кёльн?"
    records[1]["positive_ctxs"][0]["text"] = "Кёльн — город на Рейне. " * 20
    records[2]["positive_ctxs"][0]["text"] = "a café"  # after Cyrillic, still UTF-8; then ASCII again
    source = write_jsonl(tmp_path / "train.jsonl", records)
    expected = load_dpr_file(source)
    examples = DPRFileOnDisk.build(source, tmp_path / "records")
    # ASCII escapes are the faster to write; Cyrillic as escapes would be three times the bytes, and slower to read.
    lines = (tmp_path / "records" / "records.jsonl").read_bytes().splitlines()
    assert [line.isascii() for line in lines] == [True, False, False, True]
    assert list(examples) == expected
    # A folder built by 0.3.0 holds UTF-8 lines: the same records, at their own offsets.
    lines = [json.dumps(json.loads(line), ensure_ascii=False).encode() + b"\n" for line in lines]
    (examples.folder / "records.jsonl").write_bytes(b"".join(lines))
    np.save(examples.folder / "offsets.npy", np.cumsum([0] + [len(line) for line in lines[:-1]]))
    assert list(DPRFileOnDisk(examples.folder)) == expected


def test_records_is_reused_until_the_source_changes(tmp_path):
    source = write_jsonl(tmp_path / "train.jsonl", toy_records(4))
    first = DPRFileOnDisk.build(source)
    assert first.folder == tmp_path / "train.jsonl.records"
    stamp = (first.folder / "records.jsonl").stat().st_mtime_ns
    assert DPRFileOnDisk.build(source)[2].question == "question 2?"
    assert (first.folder / "records.jsonl").stat().st_mtime_ns == stamp  # not rebuilt

    write_jsonl(source, toy_records(6, prefix="changed"))
    os.utime(source, ns=(stamp + 10**9, stamp + 10**9))
    rebuilt = DPRFileOnDisk.build(source)
    assert len(rebuilt) == 6 and rebuilt[5].question == "changed 5?"


def test_partial_records_for_max_records_grows_when_more_are_asked_for(tmp_path):
    source = write_jsonl(tmp_path / "train.jsonl", toy_records(5))
    assert len(DPRFileOnDisk.build(source, max_records=3)) == 3
    assert not json.loads((tmp_path / "train.jsonl.records" / "meta.json").read_text())["complete"]
    assert len(DPRFileOnDisk.build(source, max_records=2)) == 3  # enough already: reused, the caller slices
    assert len(DPRFileOnDisk.build(source)) == 5
    assert json.loads((tmp_path / "train.jsonl.records" / "meta.json").read_text())["complete"]


def test_bad_record_fails_with_the_source_position_and_leaves_no_folder(tmp_path):
    records = toy_records(3)
    records[1]["positive_ctxs"] = []
    source = write_jsonl(tmp_path / "train.jsonl", records)
    with pytest.raises(DPRDataError, match=r"train\.jsonl, record 2 \(line 2\): field 'positive_ctxs' is empty"):
        DPRFileOnDisk.build(source)
    assert not (tmp_path / "train.jsonl.records").exists()


def test_interrupted_rebuild_keeps_the_previous_folder_whole(tmp_path, monkeypatch):
    source = write_jsonl(tmp_path / "train.jsonl", toy_records(4))
    DPRFileOnDisk.build(source)

    def interrupted(path):
        yield toy_records(1)[0], "record 1"
        raise KeyboardInterrupt

    monkeypatch.setattr(records_module, "raw_records", interrupted)
    with pytest.raises(KeyboardInterrupt):
        DPRFileOnDisk.build(source, rebuild=True)
    monkeypatch.undo()
    assert [e.question for e in DPRFileOnDisk(tmp_path / "train.jsonl.records")] == [f"question {i}?" for i in range(4)]


def test_sampler_reads_only_the_questions_a_batch_needs(tmp_path, monkeypatch):
    examples = DPRFileOnDisk.build(write_jsonl(tmp_path / "train.jsonl", toy_records(200)))
    reads = []
    original = DPRFileOnDisk.__getitem__
    monkeypatch.setattr(DPRFileOnDisk, "__getitem__", lambda self, i: reads.append(i) or original(self, i))
    sampler = BatchSampler(examples, batch_size=8, num_hard_negatives=3, seed=0)  # 2 short: borrows from others
    batch = next(iter(sampler))
    assert len(batch) == 8 and all(len(negatives) == 3 for _, _, negatives in batch)
    assert len(reads) < 8 * 10  # its 8 questions and a few to borrow passages from, not the 200


def test_training_from_records_on_disk_equals_training_in_memory(tmp_path):
    write_builtin_dataset(tmp_path)
    config = TrainConfig.preset(
        "smoke",
        data_dir=str(tmp_path),
        train_filename="train.json",
        max_samples=96,
        dev_split=0.25,
        n_epochs=2,
        save_dir=None,
        num_hard_negatives=4,
    )
    histories = []
    for records_on_disk in (False, True):
        splits = load_training_data(config.replace(records_on_disk=records_on_disk))
        assert isinstance(splits["train"], DPRFileOnDisk) == records_on_disk
        model = BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2))
        histories.append(Trainer(model, config, splits["train"], splits["dev"], progress_bar=False).train())
    memory, disk = histories
    assert [s["loss"] for s in memory.steps] == [s["loss"] for s in disk.steps]
    assert memory.evaluations == disk.evaluations
    assert len(memory.steps) == 2 * 5  # 72 training questions (24 held out) in batches of 16, for 2 epochs


def test_records_command_and_training_from_the_records_folder(tmp_path, capsys):
    source = write_jsonl(tmp_path / "train.jsonl", toy_records(6))
    assert main(["data", "records", str(source), "--out", str(tmp_path / "nq.records")]) == 0
    assert "6 questions" in capsys.readouterr().out
    splits = load_splits(tmp_path, "nq.records", max_samples=4)
    assert [e.question for e in splits["train"]] == [f"question {i}?" for i in range(4)]
