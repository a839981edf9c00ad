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
import difflib
import functools
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from . import old_names
from .errors import SettingsError
from .files import write_text_atomic
from .old_names import RENAMED_DATA, RENAMED_FIELDS

# A model name that is not on the Hugging Face hub: a tiny BERT built from a config with a vocabulary made from
# the built-in dataset, so tests, CI and the smoke mode of every notebook need no download.
TINY_MODEL = "dpr-nb/tiny-bert"
# A data_dir that means "the dataset the package generates itself" (dpr_nb.data.builtin_data).
BUILTIN_DATA = "builtin"
# The fields that may name the built-in dataset, and so its name before 0.2 (old_names.RENAMED_DATA).
_DATA_FIELDS = ("data_dir", "eval_corpus")


def __getattr__(name: str):
    return old_names.renamed_attribute(__name__, name)  # EMBEDDED_DATA, BUILTIN_DATA's name before 0.2


def is_builtin_data(data_dir) -> bool:
    """Whether a data_dir (or an eval_corpus) names the built-in dataset rather than a folder or file."""
    if RENAMED_DATA.get(str(data_dir)) == BUILTIN_DATA:
        # A config says "builtin" from the start (TrainConfig renames it): this is a function given the old name.
        old_names.warn(f"the built-in dataset's name {str(data_dir)!r}", repr(BUILTIN_DATA))
        return True
    return str(data_dir) == BUILTIN_DATA


Similarity = Literal["dot_product", "cosine"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]


MODELS, DATA, EXAMPLE, OPTIMISATION, HARDWARE, EVALUATION = (
    "Models",
    "Data",
    "Example shape",
    "Optimisation",
    "Hardware, precision, gradient caching",
    "Evaluation and output",
)


def setting(default, section: str, help: str):
    """A TrainConfig field with its help and section: said once, read by the widgets, the CLI and the docs."""
    return field(default=default, metadata={"section": section, "help": help})


@dataclass
class TrainConfig:
    """Every choice of a training run. `TrainConfig.help(name)` says what a field does; `sections()` groups them."""

    query_model: str = setting(
        TINY_MODEL, MODELS, "Question encoder: a Hugging Face hub name, a local folder, or dpr-nb/tiny-bert."
    )
    passage_model: str = setting(
        TINY_MODEL, MODELS, "Passage encoder: a Hugging Face hub name, a local folder, or dpr-nb/tiny-bert."
    )
    # Half the memory for weights and optimizer state; both models must be the same checkpoint. None trains the model
    # as it was built or loaded (BiEncoder decides once): a sentence-transformers model is one encoder for both (kept
    # as one, it ends ahead of two copies: docs/benchmarks.md, "Choosing the defaults from the measurement"); DPR and
    # BERT train two.
    share_encoders: bool | None = setting(
        None,
        MODELS,
        "One encoder for questions and passages (sentence-transformers' and Tevatron's way) instead of DPR's two: "
        "half the memory; none: the model as it was built or loaded, one when both load the same checkpoint and "
        "it compares by cosine, or it was saved as one, else two.",
    )
    data_dir: str = setting(
        BUILTIN_DATA,
        DATA,
        "Folder of the DPR training files (JSON or JSON Lines, optionally .gz, or Parquet), a BEIR folder, "
        "hf://datasets/OWNER/NAME, or 'builtin' for the dataset the package generates.",
    )
    train_filename: str = setting("train.json", DATA, "The training file in data_dir.")
    dev_filename: str | None = setting(
        None,
        DATA,
        "The dev file in data_dir; none: no dev file (the built-in dataset has its own dev and test splits).",
    )
    test_filename: str | None = setting(None, DATA, "The test file in data_dir; none: no test file.")
    max_samples: int | None = setting(None, DATA, "Read at most this many training questions; none: all of them.")
    dev_split: float = setting(0.0, DATA, "Without a dev file, hold out this fraction of the training questions.")
    # <file>.records/: JSON Lines + offsets, read as batches need them, a new shuffle every epoch
    # (dpr_nb.data.records_on_disk).
    records_on_disk: bool = setting(
        False,
        DATA,
        "Copy each file's records to disk once beside it and read them by position: flat memory for large files "
        "(NQ's 7.4 GB).",
    )
    max_seq_len_query: int = setting(64, EXAMPLE, "Questions are cut to this many tokens.")
    max_seq_len_passage: int = setting(256, EXAMPLE, "Passages (title and text) are cut to this many tokens.")
    embed_title: bool = setting(True, EXAMPLE, "Passage = [CLS] title [SEP] text [SEP], as in the original DPR.")
    num_positives: int = setting(1, EXAMPLE, "Positive passages per question in a batch.")
    num_hard_negatives: int = setting(
        1, EXAMPLE, "Hard negatives (BM25 hits without the answer) per question in a batch."
    )
    # None: dot product for DPR/BERT, the declared similarity for a sentence-transformers checkpoint.
    similarity_function: Similarity | None = setting(
        None, OPTIMISATION, "Score = dot product or cosine; none: what the checkpoint was trained with."
    )
    temperature: float | None = setting(
        None, OPTIMISATION, "Scores are divided by it; none: 1.0 for dot product, 0.05 for cosine."
    )
    # 0.0 makes two runs with the same seed and batches comparable step by step.
    dropout: float | None = setting(
        None,
        OPTIMISATION,
        "The dropout probability of both encoders while training; none: the checkpoint's own (0.1 for BERT and DPR).",
    )
    batch_size: int = setting(
        16,
        OPTIMISATION,
        "Questions per batch (over all processes under torchrun); every "
        "question sees the others' passages as negatives.",
    )
    grad_acc_steps: int = setting(
        1, OPTIMISATION, "Batches per optimizer step: a larger step, but NOT more in-batch negatives."
    )
    n_epochs: int = setting(1, OPTIMISATION, "Passes over the training questions.")
    # Settings compared at a fixed number of steps (batch sizes, say) need it: at a fixed n_epochs a bigger batch
    # also means fewer steps, and the comparison mixes the two.
    max_steps: int | None = setting(
        None,
        OPTIMISATION,
        "Optimizer steps to train, over as many epochs as they take (n_epochs is then not used); none: n_epochs.",
    )
    # None follows the checkpoint's own recipe: sentence-transformers' 2e-5 for its checkpoints (ahead of 1e-5 on
    # XQuAD de: docs/benchmarks.md, "Choosing the defaults from the measurement"), DPR's and Haystack's 1e-5.
    learning_rate: float | None = setting(
        None,
        OPTIMISATION,
        "Peak learning rate; none: 2e-5 for a checkpoint that compares by cosine (sentence transformers' "
        "recipe), else 1e-5 (DPR's). The tiny random model needs about 5e-4.",
    )
    # None: a tenth of the run. A fixed count outlasts a short fine-tune: Haystack's 100 against the 61 steps of an
    # epoch of XQuAD German, where the rate never reached its peak and the model learned less (docs/benchmarks.md,
    # "Choosing the defaults from the measurement"). The NQ presets keep the tutorial's 100.
    num_warmup_steps: int | None = setting(
        None,
        OPTIMISATION,
        "Steps of linear warm-up before the learning rate decays linearly to 0; none: a tenth of the run's steps.",
    )
    weight_decay: float = setting(0.0, OPTIMISATION, "AdamW weight decay (not on biases and LayerNorm weights).")
    epsilon: float = setting(1e-8, OPTIMISATION, "AdamW epsilon.")
    max_grad_norm: float = setting(2.0, OPTIMISATION, "Gradients are clipped to this norm.")
    seed: int = setting(42, OPTIMISATION, "Seeds batch order and dropout: the same seed repeats the run.")
    device: str = setting(
        "auto", HARDWARE, "'auto' (an NVIDIA GPU, else Apple Silicon's MPS, else the CPU), 'cpu', 'cuda:1', 'mps', ..."
    )
    precision: Precision = setting(
        "auto",
        HARDWARE,
        "'auto': bf16 on GPUs that have it (A100, H100, L4), fp16 "
        "with loss scaling on older ones (Colab's T4), float32 on a CPU; or force "
        "'fp32', 'bf16' (on a CPU too) or 'fp16' (a GPU only).",
    )
    # GradCache: every question still sees all 127 other questions' passages as negatives (dpr_nb.training.trainer).
    grad_cache_chunk_size: int | None = setting(
        None,
        HARDWARE,
        "Encode the batch this many texts at a time "
        "(gradient caching): a large batch in the memory of a chunk; "
        "none: the whole batch at once.",
    )
    evaluate_every: int = setting(1000, EVALUATION, "Optimizer steps between dev evaluations; 0: only at the end.")
    eval_batch_size: int | None = setting(None, EVALUATION, "Batch size of evaluation; none: batch_size.")
    # Adds top_k_accuracy, mrr_at_k and recall_at_k to each evaluation (dpr_nb.evaluation.corpus_eval).
    eval_corpus: str | None = setting(
        None,
        EVALUATION,
        "Passages the dev questions rank in full at each "
        "evaluation ('builtin', a passages TSV or a DPR file); none: no ranking.",
    )
    selection_metric: str | None = setting(
        None,
        EVALUATION,
        "Keep the weights of the best evaluation by this metric "
        "(average_rank, loss, f1; top_20_accuracy, mrr_at_10, ... with "
        "eval_corpus); none: keep the last weights.",
    )
    early_stopping_patience: int = setting(
        0, EVALUATION, "With selection_metric: stop after this many evaluations without a gain; 0: never."
    )
    save_dir: str | None = setting("saved_models/dpr", EVALUATION, "Where the trained model is saved; none: not saved.")
    checkpoint_dir: str | None = setting(
        None,
        EVALUATION,
        "Where checkpoints to resume from are written (dpr_nb.training.checkpoints); none: no checkpoints.",
    )
    checkpoint_every: int = setting(500, EVALUATION, "Optimizer steps between checkpoints (and one at the end).")
    checkpoints_to_keep: int = setting(1, EVALUATION, "How many of the newest checkpoints are kept; 0: all.")

    @staticmethod
    def help(name: str) -> str:
        return {f.name: f.metadata["help"] for f in fields(TrainConfig)}[name]

    @staticmethod
    def sections() -> dict[str, list[str]]:
        """The fields under their section titles, in the class's order."""
        grouped: dict[str, list[str]] = {}
        for f in fields(TrainConfig):
            grouped.setdefault(f.metadata["section"], []).append(f.name)
        return grouped

    def __post_init__(self) -> None:
        problems = []
        if self.similarity_function not in (None, "dot_product", "cosine"):
            problems.append(f"similarity_function={self.similarity_function!r} must be 'dot_product', 'cosine' or None")
        for name in (
            "batch_size",
            "grad_acc_steps",
            "n_epochs",
            "num_positives",
            "max_seq_len_query",
            "max_seq_len_passage",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)} must be at least 1")
        for name in ("num_hard_negatives", "num_warmup_steps", "evaluate_every"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                problems.append(f"{name}={getattr(self, name)} must not be negative")
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(f"max_steps={self.max_steps} must be at least 1 (or None: n_epochs decides)")
        if not 0.0 <= self.dev_split < 1.0:
            problems.append(f"dev_split={self.dev_split} must be in [0, 1)")
        if self.selection_metric is not None and not _known_metric(self.selection_metric):
            problems.append(
                f"selection_metric={self.selection_metric!r} is not a metric; use one of "
                f"{sorted(IN_BATCH_METRICS)} or top_K_accuracy, mrr_at_K, recall_at_K"
            )
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
            raise SettingsError("Invalid TrainConfig: " + "; ".join(problems))

    @classmethod
    def preset(cls, name: str, **overrides) -> TrainConfig:
        """A named starting point; keyword arguments override any field."""
        if name not in PRESETS:
            raise SettingsError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **_current_names(overrides, "TrainConfig.preset"))

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **_current_names(changes, "TrainConfig.replace"))

    def total_steps(self, batches_per_epoch: int) -> int:
        """The optimizer steps of a run whose epoch is `batches_per_epoch` batches: max_steps, or n_epochs' worth.

        >>> TrainConfig(n_epochs=3, grad_acc_steps=2).total_steps(5), TrainConfig(max_steps=7).total_steps(5)
        (9, 7)
        """
        return self.max_steps or math.ceil(batches_per_epoch / self.grad_acc_steps) * self.n_epochs

    def warmup_steps(self, total_steps: int) -> int:
        """The warm-up of a run of `total_steps` optimizer steps: num_warmup_steps, or a tenth of the run.

        >>> TrainConfig().warmup_steps(60), TrainConfig(num_warmup_steps=100).warmup_steps(60)
        (6, 100)
        """
        return self.num_warmup_steps if self.num_warmup_steps is not None else math.ceil(total_steps / 10)

    # A field's name before 0.2 reads and writes the field it became.
    def __getattr__(self, name: str):
        if name in RENAMED_FIELDS:
            old_names.warn(f"TrainConfig.{name}", f"TrainConfig.{RENAMED_FIELDS[name]}")
            return getattr(self, RENAMED_FIELDS[name])
        raise AttributeError(f"'TrainConfig' object has no attribute {name!r}")

    def __setattr__(self, name: str, value) -> None:
        if name in RENAMED_FIELDS:
            old_names.warn(f"TrainConfig.{name}", f"TrainConfig.{RENAMED_FIELDS[name]}")
            name = RENAMED_FIELDS[name]
        object.__setattr__(self, name, value)

    def with_settings(self, settings: list[str]) -> TrainConfig:
        """Apply "key=value" strings (the command line's --set), each value checked against the field's type.

        >>> TrainConfig().with_settings(["batch_size=128", "similarity_function=cosine"]).batch_size
        128
        """
        hints = typing.get_type_hints(TrainConfig)
        changes = {}
        for setting in settings:
            key, equals, text = setting.partition("=")
            key = key.strip()
            if key in RENAMED_FIELDS:
                old_names.warn(f"--set {key}", f"--set {RENAMED_FIELDS[key]}")
                key = RENAMED_FIELDS[key]
            if not equals or key not in hints:
                close = closest_field(key)
                hint = (
                    f"did you mean {close} ({TrainConfig.help(close)})"
                    if close
                    else "`dpr-nb train --help` lists every field"
                )
                raise SettingsError(f"--set {setting!r}: expected key=value with a TrainConfig field as key; {hint}")
            changes[key] = _parse_value(key, text.strip(), hints[key])
        return self.replace(**changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "TrainConfig") -> TrainConfig:
        """A TrainConfig from JSON values, each checked against its field's type; `where` names them in errors."""
        if not isinstance(values, dict):
            raise SettingsError(f"{where}: expected a JSON object of TrainConfig fields, got {type(values).__name__}.")
        values = _current_names(values, where, advice="save the config again to write the new names")
        hints = typing.get_type_hints(TrainConfig)
        unknown = sorted(set(values) - set(hints))
        if unknown:
            raise SettingsError(f"{where}: unknown TrainConfig fields {unknown}; known fields are {sorted(hints)}")
        for key, value in values.items():
            if not _has_type(value, hints[key]):
                raise SettingsError(f"{where}: field {key!r} is {value!r}; expected {_type_name(hints[key])}.")
        return cls(**values)

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise SettingsError(
                f"{path}: invalid JSON at line {e.lineno}, column {e.colno} ({e.msg}); fix it there, or "
                "start from a preset (--preset)."
            ) from None
        except UnicodeDecodeError as e:  # a ValueError too: a binary file given as the config
            raise SettingsError(
                f"{path}: not UTF-8 text ({e.reason} at byte {e.start}): a config is a JSON file such as the "
                "train_config.json saved next to every model."
            ) from None
        return cls.from_dict(values, str(path))


def _current_names(values: dict, where: str, advice: str = "") -> dict:
    """`values` with each field named as before 0.2 under its current name (old_names.RENAMED_FIELDS), and the
    built-in dataset's old name as its current one, with one warning naming them all: a saved config says each once.

    >>> _current_names({"batch_size": 8, "data_dir": "builtin"}, "TrainConfig")
    {'batch_size': 8, 'data_dir': 'builtin'}
    """
    current, renamed = {}, []
    for key, value in values.items():
        new = RENAMED_FIELDS.get(key, key)
        if new != key:
            if new in values:
                raise SettingsError(f"{where}: {key!r} is the old name of {new!r}: give only {new!r}.")
            renamed.append((repr(key), repr(new)))
        if new in _DATA_FIELDS and isinstance(value, str) and value in RENAMED_DATA:
            renamed.append((f"{new}={value!r}", f"{new}={RENAMED_DATA[value]!r}"))
            value = RENAMED_DATA[value]
        current[new] = value
    if renamed:
        old_names.warn_renamed(renamed, where, advice)
    return current


# The constructor takes the old names too (its own code comes from @dataclass, so it is wrapped here); replace and
# preset come through it as well, with the names already current.
_fields_init = TrainConfig.__init__


@functools.wraps(_fields_init)
def _init_with_old_names(self, *args, **values) -> None:
    _fields_init(self, *args, **_current_names(values, "TrainConfig"))


TrainConfig.__init__ = _init_with_old_names


def field_options(hint) -> tuple:
    """The types a field's type hint allows: each member of a union (None as type(None)), else the hint itself.

    >>> field_options(int | None)
    (<class 'int'>, <class 'NoneType'>)
    """
    return typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)


def closest_field(name: str) -> str | None:
    """The TrainConfig field a mistyped name most likely meant, None when none is close.

    >>> closest_field("batchsize")
    'batch_size'
    """
    close = difflib.get_close_matches(name, [f.name for f in fields(TrainConfig)], n=1)
    return close[0] if close else None


def auto_device() -> str:
    """What device="auto" means on this machine: "cuda" for an NVIDIA GPU, else "mps" for Apple Silicon's, else
    "cpu". Said once, for the trainer and the course's mode alike; torch is imported here, on the first question,
    so that `dpr-nb --help` and the data tools start without it."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def _has_type(value, hint) -> bool:
    """Whether a JSON value fits a field's type (an int is a float too; a bool is not an int)."""
    for option in field_options(hint):
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
    for option in field_options(hint):
        if typing.get_origin(option) is Literal:
            names.append(" or ".join(repr(v) for v in typing.get_args(option)))
        else:
            names.append("null" if option is type(None) else option.__name__)
    return " or ".join(names)


def _parse_value(key: str, text: str, hint) -> object:
    """`text` as a value of type `hint` (int, float, bool, str, a Literal, or any of them | None)."""
    options = field_options(hint)
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
    raise SettingsError(f"--set {key}={text}: not a valid value for {key} ({hint}).")


# Lower is better for these; higher for every other metric.
IN_BATCH_METRICS = {"loss": "min", "average_rank": "min", "acc": "max", "f1": "max", "acc_and_f1": "max"}
_CORPUS_METRIC = re.compile(r"^(top_(\d+)_accuracy|mrr_at_(\d+)|recall_at_(\d+))$")


def _known_metric(name: str) -> bool:
    return name in IN_BATCH_METRICS or bool(_CORPUS_METRIC.match(name))


def metric_mode(name: str) -> str:
    """ "min" if a lower value of the metric is better, else "max"."""
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
    num_warmup_steps=100,
    evaluate_every=3000,
    save_dir="saved_models/dpr",
    records_on_disk=True,  # NQ train parsed into memory needs more RAM than Colab has
    checkpoint_dir="saved_models/dpr-checkpoints",  # an NQ epoch outlasts a Colab session: resume=True picks up
    checkpoint_every=500,
)

PRESETS: dict[str, TrainConfig] = {
    # Seconds on a CPU: a tiny randomly initialised BERT learns the built-in dataset. Used by `dpr-nb demo`,
    # the tests and the notebooks' small mode (DPR_NB_MODE=small). A random-init model needs a far larger learning rate
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
    "finetune": TrainConfig(
        query_model="facebook/dpr-question_encoder-single-nq-base",
        passage_model="facebook/dpr-ctx_encoder-single-nq-base",
        **_NQ_RECIPE,
    ),
}
