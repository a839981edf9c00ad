"""What every notebook of the course shares: choosing the small or the real mode, and checking results.

A notebook opened on Binder (a CPU and 2 GB) or on a laptop must not start downloading Natural Questions and
loading two BERT-base encoders; one opened on a Colab GPU should do the real thing. So the mode follows the
machine unless the learner chooses:

    DPR_NB_SMOKE=1      the small mode: the built-in data and a tiny model, seconds on a CPU (CI runs this)
    DPR_NB_SMOKE=0      the real mode, whatever the machine
    unset               the real mode with a GPU (NVIDIA's CUDA or Apple Silicon's MPS), the small mode without

A small run is deterministic, so its notebook asserts its results. A real run is not: its numbers depend on the
data, the seed and the GPU, and one outside the usual range is worth a look, not a stopped notebook. `Checks`
does both: it asserts in the small mode and prints ✓/✗ lines with the expected range in the real one.

    >>> small_mode(environ={"DPR_NB_SMOKE": "1"}, gpu=True)
    Small mode (DPR_NB_SMOKE=1): the built-in data and a tiny model. DPR_NB_SMOKE=0 runs the real thing.
    True
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
from collections.abc import Mapping

SWITCH = "DPR_NB_SMOKE"


def has_gpu() -> bool:
    """Whether torch sees a GPU it can train on: an NVIDIA one (CUDA) or Apple Silicon's (MPS)."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or (mps is not None and mps.is_available())


def small_mode(environ: Mapping[str, str] | None = None, gpu: bool | None = None) -> bool:
    """True for the small mode, False for the real one; says which in one line, and how to choose the other."""
    environ = os.environ if environ is None else environ
    choice = environ.get(SWITCH, "").strip()
    if choice not in ("", "0", "1"):
        raise ValueError(f"{SWITCH}={choice!r}: use 1 for the small mode, 0 for the real one, or leave it unset.")
    gpu = has_gpu() if gpu is None else gpu
    small = choice == "1" or (choice == "" and not gpu)
    why = f"{SWITCH}={choice}" if choice else ("a GPU is here" if gpu else "no GPU here")
    if small:
        print(f"Small mode ({why}): the built-in data and a tiny model. {SWITCH}=0 runs the real thing.")
    else:
        print(f"Real mode ({why}): the real data and models. {SWITCH}=1 runs the small mode in seconds.")
    return small


def _number(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class Checks:
    """check(what, value, low=None, high=None): an assert in the small mode, a ✓/✗ line in the real one.

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
