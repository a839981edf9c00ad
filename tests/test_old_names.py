"""Names from before 0.2 still work: each was renamed so that one word means one thing in the package.

"embedded" (the built-in dataset) read as "embeddings"; "index" meant both the records copied to disk and a FAISS
index; the similarity setting had four names. The new names are the package's own; the old ones keep users' code,
saved configs and folders working.
"""

import json

import pytest

from dpr_nb import EMBEDDED_DATA, BiEncoder, DPRFileOnDisk, IndexedDPRFile, TrainConfig
from dpr_nb.cli import main
from dpr_nb.data.splits import load_splits
from dpr_nb.evaluation.corpus_eval import load_corpus
from dpr_nb.model.encoders import tiny_encoder


def test_embedded_still_means_the_builtin_dataset():
    old, new = load_splits(EMBEDDED_DATA, ""), load_splits("builtin", "")
    assert {k: [e.question for e in v] for k, v in old.items()} == {k: [e.question for e in v] for k, v in new.items()}
    assert [p.passage_id for p in load_corpus("embedded")] == [p.passage_id for p in load_corpus("builtin")]


def test_old_field_names_everywhere_a_field_name_is_taken(tmp_path):
    new = TrainConfig(similarity_function="cosine", records_on_disk=True)
    assert TrainConfig(similarity="cosine", index_on_disk=True) == new
    assert TrainConfig().replace(similarity="cosine", index_on_disk=True) == new
    assert TrainConfig.preset("smoke", similarity="cosine").similarity_function == "cosine"
    assert TrainConfig().with_settings(["similarity=cosine", "index_on_disk=true"]) == new
    saved = tmp_path / "train_config.json"  # a config saved before 0.2
    values = {k: v for k, v in TrainConfig().to_dict().items() if k not in ("similarity_function", "records_on_disk")}
    saved.write_text(json.dumps({**values, "similarity": "cosine", "index_on_disk": True}))
    assert TrainConfig.load(saved) == new
    # Read and written under the old name, the field itself changes: no stray attribute beside it.
    config = TrainConfig()
    config.similarity = "dot_product"
    assert config.similarity_function == "dot_product" == config.similarity and "similarity" not in vars(config)
    assert "similarity" not in config.to_dict()
    with pytest.raises(ValueError, match="old name of 'similarity_function'"):
        TrainConfig(similarity="cosine", similarity_function="dot_product")
    with pytest.raises(AttributeError):
        _ = TrainConfig().not_a_field


def test_old_records_folder_is_renamed_not_rebuilt(tmp_path):
    source = tmp_path / "train.jsonl"
    record = {"question": "q?", "answers": ["a"], "positive_ctxs": [{"title": "T", "text": "a passage"}]}
    source.write_text(json.dumps(record) + "\n")
    built = DPRFileOnDisk.build(source)
    built.folder.rename(tmp_path / "train.jsonl.index")  # as 0.1 named it
    stamp = (tmp_path / "train.jsonl.index" / "records.jsonl").stat().st_mtime_ns
    again = IndexedDPRFile.build(source)
    assert again.folder == tmp_path / "train.jsonl.records" and again.index_dir == again.folder
    assert (again.folder / "records.jsonl").stat().st_mtime_ns == stamp  # the same copy, not a second one
    assert not (tmp_path / "train.jsonl.index").exists()


def test_data_index_command_is_data_records(tmp_path, capsys):
    source = tmp_path / "train.jsonl"
    record = {"question": "q?", "answers": ["a"], "positive_ctxs": [{"title": "T", "text": "a passage"}]}
    source.write_text(json.dumps(record) + "\n")
    assert main(["data", "index", str(source), "--out", str(tmp_path / "old")]) == 0
    assert main(["data", "records", str(source), "--out", str(tmp_path / "new")]) == 0
    assert (tmp_path / "old" / "records.jsonl").read_bytes() == (tmp_path / "new" / "records.jsonl").read_bytes()


def test_default_similarity_is_similarity_function():
    model = BiEncoder(tiny_encoder(), tiny_encoder())
    assert model.default_similarity == model.similarity_function == "dot_product"
