"""Which questions train, which evaluate: the train / dev / test splits of a run, in memory or read from disk.

This is policy above the file format (dpr_nb.data reads DPR files, dpr_nb.records_on_disk copies them to disk): the
built-in dataset's own splits, a dev split held out of the training questions when there is no dev file (as
Haystack v1 does), `max_samples`, and whether questions stay on disk.

    >>> splits = load_splits("builtin", "", max_samples=50)   # the built-in dataset has its own dev and test
    >>> {name: len(examples) for name, examples in splits.items()}
    {'train': 50, 'dev': 100, 'test': 100}
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from .builtin_data import make_builtin_dataset
from .config import is_builtin_data
from .data import DPRExample, load_dpr_file, parse_record
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
    training questions (a seeded shuffle), as Haystack v1 does. With `records_on_disk`, each file is copied to disk once
    (dpr_nb.records_on_disk) and its questions are read from disk when a batch needs them, instead of held in memory.
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
        data_dir = Path(data_dir)

        def read(filename: str | None, limit: int | None = None) -> Sequence[DPRExample]:
            if not filename:
                return []
            if (data_dir / filename).is_dir():  # a records folder made by `dpr-nb data records FILE --out FOLDER`
                examples = DPRFileOnDisk(data_dir / filename)
            elif not records_on_disk:
                return load_dpr_file(data_dir / filename, limit)
            else:
                examples = DPRFileOnDisk.build(data_dir / filename, max_records=limit)
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
