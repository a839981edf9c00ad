"""Old names still work, and say so: each warns with a DeprecationWarning naming its new name, pointed at the line
that used it (dpr_nb/core/old_names.py holds them all; CHANGELOG.md says the release that removes them).

Renamed in 0.2 so that one word means one thing: "embedded" (the built-in dataset) read as "embeddings"; "index"
meant both the records copied to disk and a FAISS index; the similarity setting had four names. Moved in 0.3: the
modules into folders.
"""

import importlib
import inspect
import json
import sys
import warnings
from pathlib import Path

import pytest
import torch

import dpr_nb
from dpr_nb import BiEncoder, DPRFileOnDisk, SettingsError, TrainConfig
from dpr_nb.cli import main
from dpr_nb.core import config as config_module
from dpr_nb.core import old_names
from dpr_nb.data import records_on_disk
from dpr_nb.data.splits import load_splits
from dpr_nb.evaluation import report
from dpr_nb.evaluation.corpus_eval import load_corpus
from dpr_nb.model import interop, loss, st_format
from dpr_nb.model.encoders import Encoder, tiny_encoder

RECORD = {"question": "q?", "answers": ["a"], "positive_ctxs": [{"title": "T", "text": "a passage"}]}


def one_warning(record) -> str:
    """The one warning a block gave, said at this file's line; its message."""
    assert len(record) == 1, [str(w.message) for w in record]
    assert record[0].filename == __file__  # the user's line, not the package's
    return str(record[0].message)


def test_embedded_still_means_the_builtin_dataset():
    with pytest.warns(DeprecationWarning, match="BUILTIN_DATA") as record:
        old = dpr_nb.EMBEDDED_DATA
    assert old == dpr_nb.BUILTIN_DATA == "builtin" and "0.4" in one_warning(record)
    with pytest.warns(DeprecationWarning, match="BUILTIN_DATA") as record:
        assert config_module.EMBEDDED_DATA == "builtin"
    one_warning(record)
    with pytest.warns(DeprecationWarning, match="'builtin'") as record:
        old_splits = load_splits("embedded", "")
    assert record[0].filename == __file__
    new_splits = load_splits("builtin", "")
    assert {k: [e.question for e in v] for k, v in old_splits.items()} == {
        k: [e.question for e in v] for k, v in new_splits.items()
    }
    with pytest.warns(DeprecationWarning, match="'builtin'"):
        old_corpus = load_corpus("embedded")
    assert [p.passage_id for p in old_corpus] == [p.passage_id for p in load_corpus("builtin")]


def test_a_config_with_data_dir_embedded_says_builtin():
    with pytest.warns(DeprecationWarning, match="data_dir='builtin'") as record:
        config = TrainConfig(data_dir="embedded", eval_corpus="embedded")
    assert "eval_corpus='builtin'" in one_warning(record)
    assert config == TrainConfig(data_dir="builtin", eval_corpus="builtin")  # recorded as the name it is now


def test_old_field_names_everywhere_a_field_name_is_taken():
    new = TrainConfig(similarity_function="cosine", records_on_disk=True)
    with pytest.warns(DeprecationWarning, match="'similarity_function'.*'records_on_disk'") as record:
        assert TrainConfig(similarity="cosine", index_on_disk=True) == new
    one_warning(record)  # one warning for the call, naming both
    with pytest.warns(DeprecationWarning, match="similarity_function") as record:
        assert TrainConfig().replace(similarity="cosine", index_on_disk=True) == new
    one_warning(record)
    with pytest.warns(DeprecationWarning, match="similarity_function") as record:
        assert TrainConfig.preset("smoke", similarity="cosine").similarity_function == "cosine"
    one_warning(record)
    with pytest.warns(DeprecationWarning, match="--set similarity_function"):
        with pytest.warns(DeprecationWarning, match="--set records_on_disk"):
            assert TrainConfig().with_settings(["similarity=cosine", "index_on_disk=true"]) == new
    # Read and written under the old name, the field itself changes: no stray attribute beside it.
    config = TrainConfig()
    with pytest.warns(DeprecationWarning, match="TrainConfig.similarity_function") as record:
        config.similarity = "cosine"
    one_warning(record)
    with pytest.warns(DeprecationWarning, match="TrainConfig.similarity_function") as record:
        assert config.similarity == "cosine" == config.similarity_function
    one_warning(record)
    assert "similarity" not in vars(config) and "similarity" not in config.to_dict()
    with pytest.raises(SettingsError, match="old name of 'similarity_function'"):
        TrainConfig(similarity="cosine", similarity_function="dot_product")
    with pytest.raises(AttributeError):
        _ = TrainConfig().not_a_field


def test_a_config_saved_with_old_names_loads_and_says_so_once(tmp_path):
    saved = tmp_path / "train_config.json"  # as dpr_nb 0.1 wrote it
    values = {k: v for k, v in TrainConfig().to_dict().items() if k not in ("similarity_function", "records_on_disk")}
    saved.write_text(json.dumps({**values, "similarity": "cosine", "index_on_disk": True, "data_dir": "embedded"}))
    with pytest.warns(DeprecationWarning, match="save the config again") as record:
        loaded = TrainConfig.load(saved)
    message = one_warning(record)
    assert str(saved) in message
    for new in ("'similarity_function'", "'records_on_disk'", "data_dir='builtin'"):
        assert new in message
    assert loaded == TrainConfig(similarity_function="cosine", records_on_disk=True)
    loaded.save(saved)  # saved again, it says the new names and loads in silence
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert TrainConfig.load(saved) == loaded


def test_old_records_folder_is_renamed_in_silence_and_the_old_class_name_warns(tmp_path):
    source = tmp_path / "train.jsonl"
    source.write_text(json.dumps(RECORD) + "\n")
    built = DPRFileOnDisk.build(source)
    built.folder.rename(tmp_path / "train.jsonl.index")  # as 0.1 named it
    stamp = (tmp_path / "train.jsonl.index" / "records.jsonl").stat().st_mtime_ns
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # data on disk is migrated, not warned about: the user has nothing to change
        again = DPRFileOnDisk.build(source)
    assert again.folder == tmp_path / "train.jsonl.records"
    assert (again.folder / "records.jsonl").stat().st_mtime_ns == stamp  # the same copy, not a second one
    assert not (tmp_path / "train.jsonl.index").exists()
    with pytest.warns(DeprecationWarning, match="DPRFileOnDisk.folder") as record:
        assert again.index_dir == again.folder
    one_warning(record)
    with pytest.warns(DeprecationWarning, match="dpr_nb.DPRFileOnDisk") as record:
        assert dpr_nb.IndexedDPRFile is DPRFileOnDisk
    one_warning(record)
    with pytest.warns(DeprecationWarning, match="records_on_disk.DPRFileOnDisk") as record:
        assert records_on_disk.IndexedDPRFile is DPRFileOnDisk
    one_warning(record)


def test_from_import_of_an_old_name_warns_once_at_the_import():
    with pytest.warns(DeprecationWarning, match="dpr_nb.DPRFileOnDisk") as record:
        from dpr_nb import IndexedDPRFile
    assert IndexedDPRFile is DPRFileOnDisk
    one_warning(record)
    assert "IndexedDPRFile" not in vars(dpr_nb) and "IndexedDPRFile" not in dpr_nb.__all__  # nothing cached
    with pytest.raises(AttributeError, match="no attribute 'NotAName'"):
        _ = dpr_nb.NotAName


def test_data_index_command_is_data_records(tmp_path, capsys):
    source = tmp_path / "train.jsonl"
    source.write_text(json.dumps(RECORD) + "\n")
    assert main(["data", "index", str(source), "--out", str(tmp_path / "old")]) == 0
    assert "dpr-nb data records" in capsys.readouterr().err  # printed: Python would not show the warning
    assert main(["data", "records", str(source), "--out", str(tmp_path / "new")]) == 0
    assert (tmp_path / "old" / "records.jsonl").read_bytes() == (tmp_path / "new" / "records.jsonl").read_bytes()
    assert old_names.RENAMED_COMMANDS == {"dpr-nb data index": "dpr-nb data records"}


def test_default_similarity_is_similarity_function():
    model = BiEncoder(tiny_encoder(), tiny_encoder())
    with pytest.warns(DeprecationWarning, match="BiEncoder.similarity_function") as record:
        assert model.default_similarity == model.similarity_function == "dot_product"
    one_warning(record)


# Our own functions that took `similarity`; the document stores keep Haystack's `similarity` (dpr_nb.search).
RENAMED_KEYWORD_FUNCTIONS = [
    loss.similarity_scores,
    loss.in_batch_negatives_loss,
    report.evaluate,
    st_format.write_modules,
    interop.write_sentence_transformers_model,
    Encoder.__init__,
    Encoder.save,
]


@pytest.mark.parametrize("function", RENAMED_KEYWORD_FUNCTIONS, ids=lambda f: f.__qualname__)
def test_similarity_parameters_are_similarity_function(function):
    parameters = inspect.signature(function).parameters
    assert "similarity_function" in parameters and "similarity" not in parameters


def test_the_old_similarity_keyword_still_works_and_warns(tmp_path):
    questions, passages = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    mask = torch.eye(2, dtype=torch.bool)
    with pytest.warns(DeprecationWarning, match=r"in_batch_negatives_loss\(similarity_function=") as record:
        old, _ = loss.in_batch_negatives_loss(questions, passages, mask, similarity="cosine", temperature=0.05)
    one_warning(record)
    new, _ = loss.in_batch_negatives_loss(questions, passages, mask, similarity_function="cosine", temperature=0.05)
    assert old.item() == new.item()
    with pytest.warns(DeprecationWarning, match=r"similarity_scores\(similarity_function="):
        assert torch.equal(loss.similarity_scores(questions, passages, similarity="cosine"), questions)

    class Batch:  # what evaluate reads of a dpr_nb.data.batches.Batch
        query, passage, positive_mask = questions, passages, mask

        def to(self, device):
            return self

    class Model(torch.nn.Module):
        def forward(self, query, passage):
            return query, passage

    with pytest.warns(DeprecationWarning, match=r"evaluate\(similarity_function="):
        assert report.evaluate(Model(), [Batch()], similarity="cosine", temperature=0.05)["loss"] == new.item()

    encoder = tiny_encoder()
    with pytest.warns(DeprecationWarning, match=r"Encoder\(similarity_function=") as record:
        cosine = Encoder(encoder.model, encoder.tokenizer, similarity="cosine")
    one_warning(record)
    assert cosine.similarity == "cosine"
    with pytest.warns(DeprecationWarning, match=r"Encoder.save\(similarity_function="):
        cosine.save(tmp_path / "encoder", role="query", similarity="cosine")
    written = json.loads((tmp_path / "encoder" / "config_sentence_transformers.json").read_text())
    assert written["similarity_fn_name"] == "cosine"
    with pytest.raises(SettingsError, match="give only similarity_function"):
        Encoder(encoder.model, encoder.tokenizer, similarity="cosine", similarity_function="cosine")


def test_a_moved_module_imports_as_itself_with_a_warning_at_the_import():
    new = importlib.import_module("dpr_nb.training.trainer")
    sys.modules.pop("dpr_nb.trainer", None)  # imported before by another test: imported again here
    with pytest.warns(DeprecationWarning, match="dpr_nb.training.trainer") as record:
        import dpr_nb.trainer as old
    assert old is new
    assert "0.4" in one_warning(record)
    with pytest.warns(DeprecationWarning, match="dpr_nb.data.dpr_file.read_dpr_file") as record:
        from dpr_nb.data import read_dpr_file
    assert read_dpr_file is importlib.import_module("dpr_nb.data.dpr_file").read_dpr_file
    one_warning(record)


def test_every_old_name_is_in_the_one_module_and_the_changelog():
    changelog = (Path(__file__).parents[1] / "CHANGELOG.md").read_text(encoding="utf-8")
    assert old_names.REMOVED_IN == "0.4" and f"removed in {old_names.REMOVED_IN}" in changelog
    olds = [
        *old_names.RENAMED_FIELDS,
        *old_names.RENAMED_DATA,
        *(old for names in old_names.RENAMED_ATTRIBUTES.values() for old in names),
        *old_names.RENAMED_KEYWORDS,
        *old_names.RENAMED_COMMANDS,
    ]
    missing = [old for old in olds if not any(f"{quote}{old}" in changelog for quote in "`'\".")]
    assert not missing, f"CHANGELOG.md's Deprecated section should name {missing}"
    assert "docs/architecture.md" in changelog  # where the moved modules' new places are
