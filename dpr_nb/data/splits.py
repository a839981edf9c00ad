"""Which questions train, which evaluate: the train / dev / test splits of a run, in memory or read from disk.

This is policy above the file formats (dpr_nb.data.dpr_file reads DPR files, dpr_nb.data.beir BEIR folders,
dpr_nb.data.records_on_disk copies DPR files to disk): the built-in dataset's own splits, a dev split held out of the
training questions when there is no dev file (as Haystack v1 does), `max_samples`, and whether questions stay on
disk; and, after training, which questions a saved model trained on (`trained_questions`), so that an evaluation can
leave them out.

    >>> splits = load_splits("builtin", "", max_samples=50)   # the built-in dataset has its own dev and test
    >>> {name: len(examples) for name, examples in splits.items()}
    {'train': 50, 'dev': 100, 'test': 100}
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from ..core.config import is_builtin_data
from .beir import beir_split, load_beir_questions
from .builtin_data import make_builtin_dataset
from .dpr_file import DPRExample, load_dpr_file, parse_record, parse_records
from .hub_files import hub_path_join, is_hub_path, local_copy
from .records_on_disk import DPRFileOnDisk, take


def load_splits(
    data_dir: str | Path,
    train_filename: str,
    dev_filename: str | None = None,
    test_filename: str | None = None,
    max_samples: int | None = None,
    dev_split: float = 0.0,
    seed: int = 42,
    records_on_disk: bool = False,
) -> dict[str, Sequence[DPRExample]]:
    """The train / dev / test questions, from files in data_dir or from the built-in dataset (data_dir="builtin").

    `max_samples` caps the training questions. Without a dev file, `dev_split` holds out that fraction of the
    training questions (a seeded shuffle), as Haystack v1 does. With `records_on_disk`, each file is copied to disk
    once (dpr_nb.data.records_on_disk) and its questions are read from disk when a batch needs them, instead of held
    in memory.
    """
    if is_builtin_data(data_dir):
        records = make_builtin_dataset()
        splits = {
            name: [
                parse_record(r, f"built-in dataset, {name} record {i}") for i, r in enumerate(records[name], start=1)
            ]
            for name in ("train", "dev", "test")
        }
        splits["train"] = splits["train"][:max_samples]
    else:

        def read(filename: str | None, limit: int | None = None) -> Sequence[DPRExample]:
            if not filename:
                return []
            path = data_path(data_dir, filename)
            if beir := beir_split(path):  # data_dir a BEIR folder, filename "qrels/train.tsv"
                return load_beir_questions(*beir, max_samples=limit)
            if path.is_dir():  # a records folder made by `dpr-nb data records FILE --out FOLDER`
                examples = DPRFileOnDisk(path)
            elif not records_on_disk:
                return load_dpr_file(path, limit)
            else:
                examples = DPRFileOnDisk.build(path, max_records=limit)
            return examples if limit is None or len(examples) <= limit else examples.subset(range(limit))

        splits = {"train": read(train_filename, max_samples), "dev": read(dev_filename), "test": read(test_filename)}
    if dev_split and not splits["dev"]:
        # A permutation of positions, not of examples: an on-disk file is split without reading a question.
        count = len(splits["train"])
        order = random.Random(seed).sample(range(count), count)
        held_out = max(1, round(dev_split * count))
        train = splits["train"]
        splits["dev"], splits["train"] = take(train, order[:held_out]), take(train, order[held_out:])
    return splits


def data_path(data_dir: str | Path, filename: str) -> Path:
    """Where a run's data file is: in the data_dir folder, or for an hf://datasets/... data_dir, the file's copy in
    the Hugging Face cache (downloaded once)."""
    if is_hub_path(data_dir):
        return local_copy(hub_path_join(str(data_dir), filename))
    return Path(data_dir) / filename


def load_questions(source, max_samples: int | None = None) -> list[DPRExample]:
    """Questions to evaluate: from a DPR file (DPR's layout or Tevatron's; JSON, JSON Lines or Parquet), a BEIR folder
    (its test split), a qrels file in one (`FOLDER/qrels/dev.tsv`: that split), a file of a Hub dataset
    (`hf://datasets/OWNER/NAME/FILE`), or records in memory: `DPRExample`s, dicts, or a `datasets.Dataset`.

        >>> [e.question for e in load_questions([{"query": "where is Lyon?", "positive_passages": [{"text": "..."}]}])]
        ['where is Lyon?']
    """
    if not isinstance(source, (str, Path)):
        return parse_records(source, f"{type(source).__name__} of records", max_samples)
    source = local_copy(source)
    if beir := beir_split(source):
        return load_beir_questions(*beir, max_samples=max_samples)
    return load_dpr_file(source, max_samples)


def load_training_data(config) -> dict[str, Sequence[DPRExample]]:
    """`load_splits` with the data settings of a `TrainConfig`."""
    return load_splits(
        config.data_dir,
        config.train_filename,
        config.dev_filename,
        config.test_filename,
        config.max_samples,
        config.dev_split,
        config.seed,
        config.records_on_disk,
    )


def trained_questions(config, include_dev: bool = False) -> set[str]:
    """The texts of the questions a saved model trained on, recomputed from what it records about its data.

    `config` is the run's `TrainConfig` (a loaded retriever's `train_config`), or a saved model's folder or its
    `train_config.json`. The training split is made again by `load_training_data`, the very function training called,
    from the recorded data file, `max_samples`, `dev_split` and `seed`: it cannot disagree with what the trainer saw,
    as long as the file at the recorded path is the one training read. Relative paths are, as in training, relative to
    the current folder. With `include_dev`, the dev questions are added too: with a `selection_metric` they chose
    which weights were kept, so an evaluation that must not have seen them leaves them out as well.

    Raises FileNotFoundError naming the file when the recorded training (or dev) file is not here.

        >>> from dpr_nb import TrainConfig
        >>> config = TrainConfig.preset("smoke", max_samples=30)   # the built-in dataset: its own 100 dev questions
        >>> len(trained_questions(config)), len(trained_questions(config, include_dev=True))
        (30, 130)
    """
    from ..core.config import TrainConfig

    if not isinstance(config, TrainConfig):
        path = Path(config)
        path = path / "train_config.json" if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is not there: a model saved by dpr_nb records its training data in train_config.json; "
                "without it, which questions it trained on cannot be known."
            )
        config = TrainConfig.load(path)
    if not is_builtin_data(config.data_dir):
        wanted = [config.train_filename, *([config.dev_filename] if include_dev and config.dev_filename else [])]
        for filename in wanted:
            source = data_path(config.data_dir, filename)
            if not source.exists():
                raise FileNotFoundError(
                    f"{source} is not here: the model's train_config.json names it as its data (data_dir="
                    f"{config.data_dir!r}, relative to the folder training ran in). Put the same file there to find "
                    "the questions it trained on, or evaluate only on questions you know it never saw."
                )
    # The test file plays no part in which questions train, nor does a dev file (with one, dev_split is not used):
    # neither need be here.
    if not include_dev and config.dev_filename:
        config = config.replace(dev_filename=None, dev_split=0.0)
    splits = load_training_data(config.replace(test_filename=None))
    names = ("train", "dev") if include_dev else ("train",)
    return {example.question for name in names for example in splits[name]}
