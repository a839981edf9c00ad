"""The one training path: every public way to train and save a model writes the same folder for the same config."""

import json

import pytest
import torch

from dpr_nb import DensePassageRetriever, TrainConfig
from dpr_nb.cli import main
from dpr_nb.training.checkpoints import load_weights
from dpr_nb.training.runs import train_run
from dpr_nb.training.train import train_model

# device and similarity_function are left to "auto" and None: each entry point must record them as given.
SMALL = TrainConfig.preset("smoke", max_samples=16, batch_size=8, n_epochs=1, num_warmup_steps=0)
# What differs by design between two saves of one config: where each went.
WHERE = ("save_dir",)


def weights(folder):
    """Every weight file of a saved folder, as tensors."""
    found = {}
    for path in sorted(folder.rglob("*.safetensors")):
        for name, tensor in load_weights(path).items():
            found[f"{path.relative_to(folder)}:{name}"] = tensor
    return found


def described(folder):
    """What a saved folder says about its model, less where it was saved."""
    config = json.loads((folder / "train_config.json").read_text())
    history = json.loads((folder / "history.json").read_text())
    return {
        "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()),
        "retriever_config": json.loads((folder / "retriever_config.json").read_text()),
        "train_config": {k: v for k, v in config.items() if k not in WHERE},
        "history": history,
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The same config trained and saved through each public entry point."""
    root = tmp_path_factory.mktemp("entry_points")
    folders = {}
    folders["train_model"] = root / "train_model"
    train_model(SMALL.replace(save_dir=str(folders["train_model"])))

    folders["retriever.train"] = root / "retriever_train"
    retriever = DensePassageRetriever.from_config(SMALL)
    retriever.train(config=SMALL.replace(save_dir=str(folders["retriever.train"])))

    folders["retriever.save"] = root / "retriever_save"
    retriever.save(folders["retriever.save"])

    folders["dpr-nb train"] = root / "cli"
    config_file = root / "config.json"
    SMALL.replace(save_dir=str(folders["dpr-nb train"])).save(config_file)
    assert main(["train", "--config", str(config_file)]) == 0

    train_run(SMALL, root / "runs", name="run", save_model=True)
    folders["runs.train_run"] = root / "runs" / "run" / "model"
    return folders


def test_every_entry_point_saves_the_same_folder(saved):
    reference = described(saved["train_model"])
    assert reference["history"]["steps"], "the reference run trained"
    for entry_point, folder in saved.items():
        assert described(folder) == reference, entry_point


def test_every_entry_point_saves_the_same_weights(saved):
    reference = weights(saved["train_model"])
    assert reference
    for entry_point, folder in saved.items():
        found = weights(folder)
        assert found.keys() == reference.keys(), entry_point
        assert all(torch.equal(found[k], reference[k]) for k in reference), entry_point


def test_the_saved_config_records_where_the_model_went(saved):
    for entry_point, folder in saved.items():
        if entry_point != "retriever.save":  # a retriever saved later keeps the config it was trained with
            config = TrainConfig.load(folder / "train_config.json")
            assert config.save_dir == str(folder), entry_point
