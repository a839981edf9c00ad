"""trained_questions: which questions a saved model trained on, recomputed from its train_config.json.

The reference is what the trainer itself put in its training batches. The workshop's way of making data is rehearsed:
a subset of a DPR file (01_data's `write_subset`), trained on with `max_samples` and a seeded dev split, then the
whole file evaluated (03_evaluate): the questions left out must be exactly those the trainer trained on.
"""

import json

import pytest

from dpr_nb import DensePassageRetriever, TrainConfig
from dpr_nb.data.builtin_data import make_builtin_dataset
from dpr_nb.data.dpr_file import load_dpr_file
from dpr_nb.data.splits import load_training_data, trained_questions
from dpr_nb.tools.data_tools import write_subset
from dpr_nb.training.trainer import Trainer


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A DPR file of 60 questions; a model trained for one epoch on 30 of a 40-question subset (10 held out as dev),
    saved with relative paths as the notebooks save; and the questions of every batch the trainer made."""
    root = tmp_path_factory.mktemp("trained")
    data = root / "data"
    data.mkdir()
    (data / "full.json").write_text(json.dumps(make_builtin_dataset()["train"][:60]), encoding="utf-8")
    write_subset(data / "full.json", data / "subset-40.jsonl", n=40, seed=0)  # as 01_data makes a workshop subset
    config = TrainConfig.preset(
        "smoke",
        data_dir="data",
        train_filename="subset-40.jsonl",
        max_samples=36,
        dev_split=0.25,
        seed=7,
        n_epochs=1,
        batch_size=16,
        save_dir="saved_models/run",
    )
    seen = []
    make_batch = Trainer.make_batch

    def recording(trainer, items):
        seen.extend(example.question for example, *_ in items)
        return make_batch(trainer, items)

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setattr(Trainer, "make_batch", recording)
        DensePassageRetriever.from_config(config, progress_bar=False).train(config=config)
    return {"root": root, "config": config, "seen": seen}


def test_the_questions_recomputed_are_those_the_trainer_put_in_its_batches(run, monkeypatch):
    monkeypatch.chdir(run["root"])
    seen = set(run["seen"])
    assert len(run["seen"]) == len(seen) == 27  # one epoch: every training question once (36, less 9 held out)
    saved = DensePassageRetriever.load("saved_models/run")
    assert trained_questions(saved.train_config) == seen
    assert trained_questions("saved_models/run") == seen  # the folder, or its train_config.json
    assert trained_questions("saved_models/run/train_config.json") == seen
    dev = {e.question for e in load_training_data(run["config"])["dev"]}
    assert len(dev) == 9 and not dev & seen
    assert trained_questions(saved.train_config, include_dev=True) == seen | dev


def test_evaluating_the_whole_file_leaves_out_exactly_the_trained_questions(run, monkeypatch):
    monkeypatch.chdir(run["root"])
    everything = load_dpr_file("data/full.json")
    trained = trained_questions("saved_models/run")
    kept = [e for e in everything if e.question not in trained]
    # The subset's held-out questions and the 20 it never drew are kept; the 27 trained on, and only they, are not.
    assert {e.question for e in everything} - {e.question for e in kept} == set(run["seen"])
    assert len(kept) == 60 - 27


def test_questions_read_from_disk_split_the_same(run, monkeypatch):
    monkeypatch.chdir(run["root"])
    on_disk = run["config"].replace(records_on_disk=True)
    assert trained_questions(on_disk) == set(run["seen"])


def test_a_dev_file_leaves_the_training_file_whole(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    records = make_builtin_dataset()
    (tmp_path / "train.json").write_text(json.dumps(records["train"][:20]), encoding="utf-8")
    (tmp_path / "dev.json").write_text(json.dumps(records["dev"][:5]), encoding="utf-8")
    config = TrainConfig.preset(
        "smoke", data_dir=".", dev_filename="dev.json", dev_split=0.5, test_filename="gone.json"
    )
    train = {r["question"].strip() for r in records["train"][:20]}
    assert trained_questions(config) == train  # dev_split is not used beside a dev file; the test file need not be here
    assert trained_questions(config, include_dev=True) == train | {r["question"].strip() for r in records["dev"][:5]}
    (tmp_path / "dev.json").unlink()
    assert trained_questions(config) == train  # the dev file is needed only to add its questions


def test_a_missing_record_or_file_is_said_plainly(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not where training ran: the recorded data/subset-40.jsonl is not here
    with pytest.raises(FileNotFoundError, match=r"data/subset-40\.jsonl is not here: the model.s train_config"):
        trained_questions(run["config"])
    with pytest.raises(FileNotFoundError, match="train_config.json"):
        trained_questions(tmp_path)  # a folder without a record of its training data


def test_the_built_in_dataset_trains_on_its_own_split():
    config = TrainConfig.preset("smoke", max_samples=30)
    built_in = {r["question"].strip() for r in make_builtin_dataset()["train"][:30]}
    assert trained_questions(config) == built_in
