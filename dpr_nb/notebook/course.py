"""What every notebook of the course shares: choosing its mode, the CPU lesson's data, and checking results.

A notebook opened on Binder (a CPU and 2 GB) or on a laptop must not start downloading Natural Questions and
training two BERT-base encoders; one opened on a Colab GPU should do the tutorial's real thing; CI must run every
notebook in seconds. So there are three modes, and the machine chooses unless the learner does:

    DPR_NB_MODE=small   the built-in data and a tiny random BERT: the mechanics in seconds (CI, the tests)
    DPR_NB_MODE=cpu     a real small pretrained model (all-MiniLM-L6-v2, 22M parameters) learns real questions
                        (XQuAD's German, 1,190 questions on 240 Wikipedia paragraphs) in minutes on 2 cores
    DPR_NB_MODE=gpu     the tutorial at full scale: Natural Questions and BERT-base encoders, on a GPU
    unset               gpu with an NVIDIA GPU (CUDA); cpu without one, Apple Silicon included (it trains on
                        MPS there: the lesson fits a laptop, the BERT-base recipe is sized for a T4's fp16)

`DPR_NB_SMOKE` is the old name: 1 is the small mode, 0 the GPU mode.

The small mode is deterministic, so its notebook asserts its results. The others are not (their numbers depend on
the data, the seed and the hardware), and one outside the usual range is worth a look, not a stopped notebook.
`Checks` does both: it asserts in the small mode and prints ✓/✗ lines with the expected range otherwise.

    >>> course_mode(environ={"DPR_NB_MODE": "small"}, gpu="cuda")
    Small mode (DPR_NB_MODE=small): the built-in data and a tiny model. DPR_NB_MODE=cpu or gpu runs on real data.
    'small'
    >>> course_mode(environ={}, gpu=None)
    CPU mode (no NVIDIA GPU here): all-MiniLM-L6-v2 learns XQuAD's German questions. DPR_NB_MODE=small runs in seconds.
    'cpu'
    >>> check = Checks(small=False)
    >>> check("top-20 accuracy", 0.61, low=0.55, high=0.80)
    ✓ top-20 accuracy: 0.61 (expected 0.55 to 0.8)
    True
    >>> check("top-20 accuracy", 0.31, low=0.55)
    ✗ top-20 accuracy: 0.31 (expected at least 0.55)
    False
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

from ..core.config import auto_device
from ..core.errors import SettingsError
from ..core.messages import show_messages

SWITCH = "DPR_NB_MODE"
OLD_SWITCH = "DPR_NB_SMOKE"
MODES = ("small", "cpu", "gpu")

# The CPU lesson: a real checkpoint small enough to train on 2 cores, on questions in a language it was not
# trained for, so that minutes of training visibly move it (how far: docs/benchmarks.md, "The course's CPU mode").
CPU_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CPU_LANGUAGE = "de"

_SAYS = {
    "small": "Small mode ({why}): the built-in data and a tiny model. DPR_NB_MODE=cpu or gpu runs on real data.",
    "cpu": "CPU mode ({why}): all-MiniLM-L6-v2 learns XQuAD's German questions. DPR_NB_MODE=small runs in seconds.",
    "gpu": "GPU mode ({why}): Natural Questions and BERT-base encoders. DPR_NB_MODE=cpu runs in minutes on a CPU.",
}


def gpu_kind() -> str | None:
    """ "cuda" for an NVIDIA GPU, "mps" for Apple Silicon's, None without one: the GPU that training's
    device="auto" takes (`auto_device`), so the mode chosen here is the one the notebook's training runs on."""
    device = auto_device()
    return None if device == "cpu" else device


def has_gpu() -> bool:
    """Whether torch sees a GPU it can train on: an NVIDIA one (CUDA) or Apple Silicon's (MPS)."""
    return gpu_kind() is not None


def course_mode(environ: Mapping[str, str] | None = None, gpu: str | None | bool = False) -> str:
    """ "small", "cpu" or "gpu"; says which in one line, and how to choose another.

    `gpu` is what `gpu_kind()` returns (looked up when left False)."""
    show_messages()  # every notebook calls this first: the library's messages show in its cells
    environ = os.environ if environ is None else environ
    choice = environ.get(SWITCH, "").strip().lower()
    old = environ.get(OLD_SWITCH, "").strip()
    if choice and choice not in MODES:
        raise SettingsError(f"{SWITCH}={choice!r}: use small, cpu or gpu, or leave it unset (the machine chooses).")
    if not choice and old:
        if old not in ("0", "1"):
            raise SettingsError(f"{OLD_SWITCH}={old!r}: use {SWITCH}=small, cpu or gpu instead.")
        warnings.warn(f"{OLD_SWITCH} is the old name: use {SWITCH}=small (for 1) or gpu (for 0).", FutureWarning, 2)
        choice, why = ("small" if old == "1" else "gpu"), f"{OLD_SWITCH}={old}"
    elif choice:
        why = f"{SWITCH}={choice}"
    else:
        gpu = gpu_kind() if gpu is False else gpu
        choice = "gpu" if gpu == "cuda" else "cpu"
        why = {"cuda": "an NVIDIA GPU is here", "mps": "Apple Silicon: trains on MPS"}.get(gpu, "no NVIDIA GPU here")
    print(_SAYS[choice].format(why=why))
    return choice


def small_mode(environ: Mapping[str, str] | None = None, gpu: bool | None = None) -> bool:
    """Old: True for the small mode. Use course_mode(), which also knows the CPU mode."""
    warnings.warn("small_mode() is the old name: use course_mode() == 'small'.", FutureWarning, 2)
    return course_mode(environ, "cuda" if gpu else (False if gpu is None else None)) == "small"


def cpu_lesson_data(data_dir: str | Path = "data/xquad") -> Path:
    """XQuAD's German as DPR files, made once: `data_dir`/de-dpr with train.json (38 articles), test.json (the
    other 10 articles, questions about paragraphs training never shows) and passages.tsv (all 240 paragraphs).

    The split is by article with seed 0, the one benchmarks/retrieval_quality.py measures, and the hard negatives
    are BM25's top paragraphs without an answer. Downloads xquad.de.json (0.7 MB) when it is not there."""
    from ..tools.download import download
    from ..tools.squad import convert_squad

    data_dir = Path(data_dir)
    folder = data_dir / f"{CPU_LANGUAGE}-dpr"
    if not all((folder / name).is_file() for name in ("train.json", "test.json", "passages.tsv")):
        source = download(f"xquad-{CPU_LANGUAGE}", data_dir)
        convert_squad(source, folder, dev_fraction=0.0, test_fraction=0.2, num_hard_negatives=5, seed=0)
    return folder


def nq_training_file(data_dir: str | Path = "data/dpr_training", name: str = "biencoder-nq-dev.json") -> Path:
    """The GPU mode's training file in `data_dir`, made where it is needed: NQ's dev file is downloaded when missing,
    and a workshop subset `subset-N.jsonl` (N questions drawn with seed 0, as 01_data writes it) is made from it.

    Each Colab notebook runs on its own machine: a subset 01_data wrote there is not here, but the same call makes
    the same questions here."""
    from ..tools.data_tools import write_subset
    from ..tools.download import download

    data_dir = Path(data_dir)
    target = data_dir / name
    if target.is_file():
        return target
    full = download("nq-dev", data_dir)
    if target == full:
        return target
    size = name.removeprefix("subset-").removesuffix(".jsonl")
    if not (name.startswith("subset-") and name.endswith(".jsonl") and size.isdigit()):
        raise FileNotFoundError(f"{target} is not there: give a DPR file in {data_dir}, or subset-N.jsonl (made here).")
    print(f"{target} is not on this machine: making it from {full.name} ({size} questions, seed 0, as 01_data does)")
    write_subset(full, target, n=int(size), seed=0)
    return target


def _number(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class Checks:
    """check(what, value, low=None, high=None): an assert in the small mode, a ✓/✗ line in the others.

    With neither bound, `value` itself is the condition (✓ when true). Every check is kept in `results`, so a
    notebook can end with how many held."""

    def __init__(self, small: bool):
        self.small, self.results = small, []

    def __call__(self, what: str, value, low=None, high=None) -> bool:
        if low is None and high is None:
            ok, line = bool(value), what
        else:
            ok = (low is None or value >= low) and (high is None or value <= high)
            if low is not None and high is not None:
                expected = f"{_number(low)} to {_number(high)}"
            else:
                expected = f"at least {_number(low)}" if low is not None else f"at most {_number(high)}"
            line = f"{what}: {_number(value)} (expected {expected})"
        self.results.append((what, ok))
        if self.small:
            assert ok, line  # the small mode is deterministic: a miss is a bug
        print(f"{'✓' if ok else '✗'} {line}")
        return ok
