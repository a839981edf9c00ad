"""One typed `TrainConfig` holds every choice a training run makes, with named presets.

The widgets panel, the command line and `DensePassageRetriever.train()` all edit this one dataclass, so a run is
described the same way wherever it was started, and is saved next to the model as JSON.

    >>> from dpr_nb import TrainConfig
    >>> config = TrainConfig.preset("smoke")
    >>> config.batch_size, config.num_hard_negatives
    (16, 2)
    >>> TrainConfig.preset("finetune", learning_rate=2e-5).learning_rate
    2e-05
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# A model name that is not on the Hugging Face hub: a tiny BERT built from a config with a vocabulary made from
# the embedded dataset, so tests, CI and the smoke mode of every notebook need no download.
TINY_MODEL = "dpr-nb/tiny-bert"
# A data_dir that means "the dataset the package generates itself" (dpr_nb.embedded_data).
EMBEDDED_DATA = "embedded"

Similarity = Literal["dot_product", "cosine"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass
class TrainConfig:
    # --- models: a hub name, a local folder, or TINY_MODEL
    query_model: str = TINY_MODEL
    passage_model: str = TINY_MODEL
    # --- data: DPR JSON / JSON Lines files (optionally .gz) inside data_dir, or data_dir=EMBEDDED_DATA
    data_dir: str = EMBEDDED_DATA
    train_filename: str = "train.json"
    dev_filename: str | None = None  # (the embedded dataset always has its own dev and test splits)
    test_filename: str | None = None
    max_samples: int | None = None  # read at most this many training questions
    dev_split: float = 0.0  # with no dev file: hold out this fraction of the training questions
    # index each file once beside it (<file>.index/: JSON Lines + offsets) and read questions from disk as batches
    # need them: flat memory for NQ's 7.4 GB, a new shuffle every epoch (dpr_nb.indexed)
    index_on_disk: bool = False
    # --- what one training example looks like
    max_seq_len_query: int = 64
    max_seq_len_passage: int = 256
    embed_title: bool = True  # passage = "[CLS] title [SEP] text [SEP]", as in the original DPR
    num_positives: int = 1
    num_hard_negatives: int = 1
    # one encoder for questions and passages (sentence-transformers' and Tevatron's default) instead of DPR's two:
    # half the memory for weights and optimizer state; both models must be the same checkpoint
    share_encoders: bool = False
    # --- the loss: None means "what the checkpoint was trained with" (dot product for DPR/BERT,
    # the declared similarity for a sentence-transformers checkpoint)
    similarity: Similarity | None = None
    temperature: float | None = None  # scores are divided by it; None: 1.0 for dot product, 0.05 for cosine
    # the probability of every dropout layer of both encoders while training; None: the checkpoint's own (0.1 for
    # BERT and DPR). 0.0 makes two runs with the same seed and batches comparable step by step
    dropout: float | None = None
    # --- optimisation
    batch_size: int = 16  # questions per step (over all processes under torchrun), each with its passages
    grad_acc_steps: int = 1  # batches per optimizer step: a larger step, but NOT more in-batch negatives
    # encode the batch this many texts at a time (GradCache): batch_size=128 in the memory of a chunk, and every
    # question still sees all 127 other questions' passages as negatives. None: the whole batch at once
    grad_cache_chunk_size: int | None = None
    n_epochs: int = 1
    learning_rate: float = 1e-5
    num_warmup_steps: int = 100
    weight_decay: float = 0.0
    epsilon: float = 1e-8
    max_grad_norm: float = 2.0
    seed: int = 42
    # --- evaluation and output
    evaluate_every: int = 1000  # optimizer steps between dev evaluations (0: only at the end)
    eval_batch_size: int | None = None  # None: same as batch_size
    # full-corpus retrieval at every dev evaluation (dpr_nb.corpus_eval): the dev questions rank every passage of
    # this passages TSV or DPR file ("embedded": the embedded dataset's 280 passages), adding top_k_accuracy,
    # mrr_at_k and recall_at_k to the evaluation
    eval_corpus: str | None = None
    # keep the weights of the best dev evaluation by this metric (e.g. "average_rank", "loss", "f1",
    # "top_20_accuracy", "mrr_at_10"; the last three kinds need eval_corpus); None: keep the last weights
    selection_metric: str | None = None
    early_stopping_patience: int = 0  # with selection_metric: stop after this many evaluations without a gain
    save_dir: str | None = "saved_models/dpr"
    # --- checkpoints (dpr_nb.checkpoints): every checkpoint_every optimizer steps and at the end, to resume from
    checkpoint_dir: str | None = None  # None: no checkpoints
    checkpoint_every: int = 500
    checkpoints_to_keep: int = 1  # the newest ones are kept; 0 keeps all
    # --- hardware: "auto" picks a GPU when there is one
    device: str = "auto"
    # "auto": bf16 on GPUs that have it (A100, H100, L4), fp16 with loss scaling on older ones (Colab's T4),
    # float32 on a CPU. Or force "fp32", "bf16" (on a CPU too), "fp16" (a GPU only).
    precision: Precision = "auto"

    def __post_init__(self) -> None:
        problems = []
        if self.similarity not in (None, "dot_product", "cosine"):
            problems.append(f"similarity={self.similarity!r} must be 'dot_product', 'cosine' or None")
        for name in ("batch_size", "grad_acc_steps", "n_epochs", "num_positives", "max_seq_len_query",
                     "max_seq_len_passage"):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)} must be at least 1")
        for name in ("num_hard_negatives", "num_warmup_steps", "evaluate_every"):
            if getattr(self, name) < 0:
                problems.append(f"{name}={getattr(self, name)} must not be negative")
        if not 0.0 <= self.dev_split < 1.0:
            problems.append(f"dev_split={self.dev_split} must be in [0, 1)")
        if self.selection_metric is not None and not _known_metric(self.selection_metric):
            problems.append(f"selection_metric={self.selection_metric!r} is not a metric; use one of "
                            f"{sorted(IN_BATCH_METRICS)} or top_K_accuracy, mrr_at_K, recall_at_K")
        elif self.selection_metric and self.selection_metric not in IN_BATCH_METRICS and not self.eval_corpus:
            problems.append(f"selection_metric={self.selection_metric!r} is a corpus metric: set eval_corpus")
        if self.early_stopping_patience and not self.selection_metric:
            problems.append("early_stopping_patience needs a selection_metric to watch")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            problems.append(f"precision={self.precision!r} must be 'auto', 'fp32', 'bf16' or 'fp16'")
        if self.grad_cache_chunk_size is not None and self.grad_cache_chunk_size < 1:
            problems.append(f"grad_cache_chunk_size={self.grad_cache_chunk_size} must be at least 1 (or None)")
        if self.checkpoint_every < 1:
            problems.append(f"checkpoint_every={self.checkpoint_every} must be at least 1")
        if self.checkpoints_to_keep < 0:
            problems.append(f"checkpoints_to_keep={self.checkpoints_to_keep} must not be negative")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout={self.dropout} must be in [0, 1) (or None: the checkpoint's own)")
        # NaN compares false with everything, so each test is written to fail for it, and inf is caught by name.
        for name in ("learning_rate", "epsilon", "max_grad_norm", "temperature"):
            value = getattr(self, name)
            if value is not None and not (0 < value < math.inf):
                problems.append(f"{name}={value} must be a positive finite number")
        if not 0 <= self.weight_decay < math.inf:
            problems.append(f"weight_decay={self.weight_decay} must be a finite number >= 0")
        if problems:
            raise ValueError("Invalid TrainConfig: " + "; ".join(problems))

    @classmethod
    def preset(cls, name: str, **overrides) -> TrainConfig:
        """A named starting point; keyword arguments override any field."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **overrides)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def with_settings(self, settings: list[str]) -> TrainConfig:
        """Apply "key=value" strings (the command line's --set), each value checked against the field's type.

        >>> TrainConfig().with_settings(["batch_size=128", "dev_filename=null", "similarity=cosine"]).batch_size
        128
        """
        hints = typing.get_type_hints(TrainConfig)
        changes = {}
        for setting in settings:
            key, equals, text = setting.partition("=")
            key = key.strip()
            if not equals or key not in hints:
                raise ValueError(f"--set {setting!r}: expected key=value with a TrainConfig field as key; fields "
                                 f"are {sorted(hints)}")
            changes[key] = _parse_value(key, text.strip(), hints[key])
        return self.replace(**changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "TrainConfig") -> TrainConfig:
        """A TrainConfig from JSON values, each checked against its field's type; `where` names them in errors."""
        if not isinstance(values, dict):
            raise ValueError(f"{where}: expected a JSON object of TrainConfig fields, got {type(values).__name__}.")
        hints = typing.get_type_hints(TrainConfig)
        unknown = sorted(set(values) - set(hints))
        if unknown:
            raise ValueError(f"{where}: unknown TrainConfig fields {unknown}; known fields are {sorted(hints)}")
        for key, value in values.items():
            if not _has_type(value, hints[key]):
                raise ValueError(f"{where}: field {key!r} is {value!r}; expected {_type_name(hints[key])}.")
        return cls(**values)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno} ({e.msg}); fix it there, or "
                             "start from a preset (--preset).") from None
        return cls.from_dict(values, str(path))


def _options(hint) -> tuple:
    return typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)


def _has_type(value, hint) -> bool:
    """Whether a JSON value fits a field's type (an int is a float too; a bool is not an int)."""
    for option in _options(hint):
        if option is type(None) and value is None:
            return True
        if typing.get_origin(option) is Literal and value in typing.get_args(option):
            return True
        if option is bool and isinstance(value, bool):
            return True
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if option is str and isinstance(value, str):
            return True
    return False


def _type_name(hint) -> str:
    names = []
    for option in _options(hint):
        if typing.get_origin(option) is Literal:
            names.append(" or ".join(repr(v) for v in typing.get_args(option)))
        else:
            names.append("null" if option is type(None) else option.__name__)
    return " or ".join(names)


def _parse_value(key: str, text: str, hint) -> object:
    """`text` as a value of type `hint` (int, float, bool, str, a Literal, or any of them | None)."""
    options = _options(hint)
    if text.lower() in ("none", "null") and type(None) in options:
        return None
    for option in options:
        if typing.get_origin(option) is Literal and text in typing.get_args(option):
            return text
        if option is bool and text.lower() in ("true", "false", "1", "0", "yes", "no"):
            return text.lower() in ("true", "1", "yes")
        if option in (int, float, str):
            try:
                return option(text)
            except ValueError:
                continue
    raise ValueError(f"--set {key}={text}: not a valid value for {key} ({hint}).")


# Lower is better for these; higher for every other metric.
IN_BATCH_METRICS = {"loss": "min", "average_rank": "min", "acc": "max", "f1": "max", "acc_and_f1": "max"}
_CORPUS_METRIC = re.compile(r"^(top_(\d+)_accuracy|mrr_at_(\d+)|recall_at_(\d+))$")


def _known_metric(name: str) -> bool:
    return name in IN_BATCH_METRICS or bool(_CORPUS_METRIC.match(name))


def metric_mode(name: str) -> str:
    """"min" if a lower value of the metric is better, else "max"."""
    return IN_BATCH_METRICS.get(name, "max")


def metric_k(name: str) -> int | None:
    """The k of a corpus metric (20 for "top_20_accuracy"), None for an in-batch one."""
    match = _CORPUS_METRIC.match(name)
    return int(next(g for g in match.groups()[1:] if g)) if match else None


# The recipe of Haystack v1's tutorial: NQ files, batch 16 x 8 accumulation steps, one epoch.
_NQ_RECIPE = dict(
    data_dir="data/dpr_training",
    train_filename="biencoder-nq-train.json",
    dev_filename="biencoder-nq-dev.json",
    test_filename="biencoder-nq-dev.json",
    batch_size=16,
    grad_acc_steps=8,
    n_epochs=1,
    learning_rate=1e-5,
    evaluate_every=3000,
    save_dir="saved_models/dpr",
    index_on_disk=True,  # NQ train parsed into memory needs more RAM than Colab has
    checkpoint_dir="saved_models/dpr-checkpoints",  # an NQ epoch outlasts a Colab session: resume=True picks up
    checkpoint_every=500,
)

PRESETS: dict[str, TrainConfig] = {
    # Seconds on a CPU: a tiny randomly initialised BERT learns the embedded dataset. Used by `dpr-nb demo`,
    # the tests and DPR_NB_SMOKE=1 in the notebooks. A random-init model needs a far larger learning rate
    # than fine-tuning a pretrained one.
    "smoke": TrainConfig(
        max_seq_len_query=32,
        max_seq_len_passage=64,
        num_hard_negatives=2,
        batch_size=16,
        n_epochs=20,
        learning_rate=5e-4,
        num_warmup_steps=20,
        evaluate_every=0,
        save_dir="saved_models/dpr-smoke",
    ),
    # Haystack v1 tutorial, option 1: train both encoders from bert-base-uncased on Natural Questions.
    "from_scratch": TrainConfig(query_model="bert-base-uncased", passage_model="bert-base-uncased", **_NQ_RECIPE),
    # Haystack v1 tutorial, option 2: continue from Facebook's DPR encoders trained on Natural Questions.
    "finetune": TrainConfig(query_model="facebook/dpr-question_encoder-single-nq-base",
                            passage_model="facebook/dpr-ctx_encoder-single-nq-base", **_NQ_RECIPE),
}
