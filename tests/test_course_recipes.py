"""Every recipe the course runs on real data can learn: its warm-up ends well inside its run, and the run is long
enough to move the metric. Read from each training notebook's parameters cell, executed in each mode.

The minimums: the CPU mode fine-tunes a pretrained sentence encoder, and 20 steps of it already moved top-1 on
XQuAD German from 0.47 to 0.53 (docs/benchmarks.md), so one epoch of 50 steps or more; the GPU mode trains BERT-base
encoders on Natural Questions, and the run Haystack's tutorial reports is one NQ-train epoch at 16 x 8, 460 steps.
A warm-up longer than a fifth of the run leaves too little of it at the peak rate.
"""

import json
import math
import shutil
from pathlib import Path

import pytest

from conftest import XQUAD, need

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TRAINING = ("00_quickstart", "02_train")  # the notebooks whose parameters cell holds a training recipe
MIN_STEPS = {"cpu": 50, "gpu": 460}
NQ_DEV_QUESTIONS = 6515
MAX_WARMUP_SHARE = 0.2


def recipe_problems(
    questions: int, dev_split: float, batch: int, accumulation: int, epochs: int, warmup: int, minimum: int
) -> list[str]:
    """What keeps a recipe from learning, in words; [] when nothing does."""
    trained = questions - (max(1, round(dev_split * questions)) if dev_split else 0)
    steps = math.ceil(trained / (batch * accumulation)) * epochs
    problems = []
    if warmup > MAX_WARMUP_SHARE * steps:
        problems.append(f"warm-up of {warmup} steps is more than a fifth of the run's {steps}")
    if steps < minimum:
        problems.append(f"{steps} optimizer steps, fewer than the {minimum} this mode needs")
    return problems


def test_the_tutorials_own_settings_on_nq_dev_are_refused():
    """Haystack's 16 x 8 with 100 warm-up steps on NQ dev's 4,500 questions: 36 steps, all of them warming up."""
    problems = recipe_problems(5000, 0.1, 16, 8, 1, 100, MIN_STEPS["gpu"])
    assert problems == [
        "warm-up of 100 steps is more than a fifth of the run's 36",
        "36 optimizer steps, fewer than the 460 this mode needs",
    ]
    # 02_train's earlier GPU recipe: one epoch at batch 64, 71 steps.
    assert recipe_problems(5000, 0.1, 64, 1, 1, 10, MIN_STEPS["gpu"]) == [
        "71 optimizer steps, fewer than the 460 this mode needs"
    ]


def parameters(name: str, mode: str, monkeypatch) -> dict:
    cells = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]
    (cell,) = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    monkeypatch.setenv("DPR_NB_MODE", mode)
    namespace: dict = {}
    exec("".join(cell["source"]), namespace)
    return namespace


@pytest.fixture(scope="module")
def cpu_lesson_questions(tmp_path_factory) -> int:
    """How many questions the CPU lesson's training file holds, made as the notebooks make it (offline: the
    download finds ../shared's copy in place)."""
    from dpr_nb.notebook.course import cpu_lesson_data

    folder = tmp_path_factory.mktemp("xquad")
    shutil.copy(need(XQUAD / "xquad.de.json"), folder / "xquad.de.json")
    with open(cpu_lesson_data(folder) / "train.json", encoding="utf-8") as f:
        return len(json.load(f))


@pytest.mark.parametrize("mode", ["cpu", "gpu"])
@pytest.mark.parametrize("name", TRAINING)
def test_every_real_recipe_warms_up_inside_a_run_long_enough_to_learn(name, mode, monkeypatch, request):
    p = parameters(name, mode, monkeypatch)
    assert p["MODE"] == mode
    available = request.getfixturevalue("cpu_lesson_questions") if mode == "cpu" else NQ_DEV_QUESTIONS
    questions = min(p["MAX_QUESTIONS"] or available, available)
    problems = recipe_problems(
        questions,
        p["DEV_SPLIT"],
        p["BATCH_SIZE"],
        p["GRAD_ACC_STEPS"],
        p["N_EPOCHS"],
        p["WARMUP_STEPS"],
        MIN_STEPS[mode],
    )
    assert problems == [], f"{name}, {mode} mode: {problems}"
