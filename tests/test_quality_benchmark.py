"""benchmarks/retrieval_quality.py's judgement: each dpr_nb row against each sentence-transformers row, on the seeds
both trained. Its runs take minutes each, so the judging is tested here on rows made by hand."""

from __future__ import annotations

import doctest
import importlib
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def quality(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("retrieval_quality")


def row(model: str, seed: int, top_1: float) -> dict:
    return {
        "model": model,
        "seed": seed,
        "learning_rate": 2e-5,
        "questions": 100,
        "top_1_accuracy": top_1,
        "top_5_accuracy": 0.9,
        "top_10_accuracy": 0.9,
        "top_20_accuracy": 0.95,
        "mrr_at_10": 0.7,
        "train_minutes": 1.0,
    }


def test_doctests_pass(quality):
    results = doctest.testmod(quality)
    assert results.failed == 0
    assert results.attempted >= 4  # over_seeds' and paired's examples ran


def test_judged_on_the_seeds_both_trained(quality, tmp_path):
    # dpr_nb's two encoders trained seeds 1-3, sentence-transformers' two only seed 3, where dpr_nb is one question
    # behind. dpr_nb's mean over all its seeds (0.60) is above theirs (0.55): a comparison of the rows' means would
    # call it ahead; on the seed both trained it is one question behind, which one seed cannot tell from its draw
    # (no standard error), so that comparison is not judged.
    rows = [row("dpr_nb", 1, 0.60), row("dpr_nb", 2, 0.66), row("dpr_nb", 3, 0.54)]
    rows += [row("sentence-transformers, two encoders", 3, 0.55)]
    rows += [row("dpr_nb, shared", seed, 0.60 + seed / 100) for seed in (1, 2, 3)]
    rows += [row("sentence-transformers", seed, 0.60 + seed / 100 - 0.02) for seed in (1, 2, 3)]
    settings = {"seeds": [1, 2, 3]}
    quality.report(settings, {"de": rows}, str(tmp_path / "out.json"))
    written = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))

    two = written["paired_differences"]["de"]["dpr_nb against sentence-transformers, two encoders"]["top_1_accuracy"]
    assert two == {"seeds": 1, "mean": pytest.approx(-1.0), "standard_error": None, "unit": "questions"}
    assert written["target_met"]["de"]["dpr_nb against sentence-transformers, two encoders"]["top_1_accuracy"] is None
    assert written["standing"]["de"]["dpr_nb against sentence-transformers, two encoders"]["top_1_accuracy"] is None

    shared = written["paired_differences"]["de"]["dpr_nb, shared against sentence-transformers"]["top_1_accuracy"]
    assert shared["seeds"] == 3 and shared["mean"] == pytest.approx(2.0) and shared["standard_error"] == 0
    assert all(written["target_met"]["de"]["dpr_nb, shared against sentence-transformers"].values())
    # +2 questions on every seed (standard error 0): ahead; the other figures are equal on every seed: level.
    assert written["standing"]["de"]["dpr_nb, shared against sentence-transformers"] == {
        "top_1_accuracy": "ahead",
        "top_5_accuracy": "level",
        "top_20_accuracy": "level",
        "mrr_at_10": "level",
    }
    # Every dpr_nb row meets every sentence-transformers row that shares a seed with it.
    assert len(written["target_met"]["de"]) == 4


@pytest.mark.parametrize(
    ("mean", "standard_error", "expected", "met"),
    [
        (-0.2, 0.6, "level", True),  # below zero by a third of a standard error: no gap the seeds can tell
        (0.1, 0.01, "ahead", True),  # small, but ten standard errors above zero
        (-3.0, 0.5, "behind", False),  # six standard errors below zero
        (1.0, 0.5, "level", True),  # exactly two standard errors: not more than two, so level
        (-1.0, None, None, None),  # one seed: no standard error, not judged
    ],
)
def test_a_difference_is_judged_by_its_standard_error_not_its_sign(quality, mean, standard_error, expected, met):
    figure = {"seeds": 3, "mean": mean, "standard_error": standard_error, "unit": "questions"}
    assert quality.standing(figure) == expected
    assert quality.target_met(figure) is met


def test_report_judges_each_figure_level_ahead_or_behind(quality, tmp_path):
    # Top-1 differences in questions (100 questions, so 0.01 of accuracy each) on seeds 1-5, by hand:
    # dpr_nb: -1, +1, -1, 0, 0: mean -0.2, sample variance (0.64 + 1.44 + 0.64 + 0.04 + 0.04) / 4 = 0.7, standard
    #   error sqrt(0.7 / 5) = 0.374166: within two of zero, level, so met (the sign alone said "not met").
    # dpr_nb, shared: -3, -3, -4, -2, -3: mean -3.0, variance (0 + 0 + 1 + 1 + 0) / 4 = 0.5, standard error
    #   sqrt(0.5 / 5) = 0.316228: more than two below zero, behind, not met.
    differences = {"dpr_nb": [-1, 1, -1, 0, 0], "dpr_nb, shared": [-3, -3, -4, -2, -3]}
    rows = [row("sentence-transformers", seed, 0.60) for seed in range(1, 6)]
    rows += [
        row(model, seed, 0.60 + found / 100)
        for model, by_seed in differences.items()
        for seed, found in zip(range(1, 6), by_seed)
    ]
    quality.report({"seeds": [1, 2, 3, 4, 5]}, {"de": rows}, str(tmp_path / "out.json"))
    written = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))

    level = written["paired_differences"]["de"]["dpr_nb against sentence-transformers"]["top_1_accuracy"]
    assert level["mean"] == pytest.approx(-0.2) and level["standard_error"] == pytest.approx(0.374166)
    assert written["target_met"]["de"]["dpr_nb against sentence-transformers"]["top_1_accuracy"] is True
    assert written["standing"]["de"]["dpr_nb against sentence-transformers"]["top_1_accuracy"] == "level"

    behind = written["paired_differences"]["de"]["dpr_nb, shared against sentence-transformers"]["top_1_accuracy"]
    assert behind["mean"] == pytest.approx(-3.0) and behind["standard_error"] == pytest.approx(0.316228)
    assert written["target_met"]["de"]["dpr_nb, shared against sentence-transformers"]["top_1_accuracy"] is False
    assert written["standing"]["de"]["dpr_nb, shared against sentence-transformers"]["top_1_accuracy"] == "behind"


def test_combine_keeps_each_seed_once_and_reads_old_runs_variants(quality):
    def run(seeds, models, **settings):
        budget = {"model": "m", "epochs": 1, "learning_rate": 2e-5, "batch_size": 16, "max_train_questions": None}
        rows = [row(model, seed, 0.6) for seed in seeds for model in models]
        return {**budget, "dpr_nb_variants": ["shared"], "seeds": seeds, "results": {"de": rows}, **settings}

    # An earlier run (no record of sentence-transformers' variants) and a later one with its two encoders; both
    # hold BM25's row for seed 2, which the table must count once.
    settings, results = quality.combine(
        [
            run([1, 2], ["BM25", "dpr_nb, shared", "sentence-transformers"]),
            run([2, 3], ["BM25", "sentence-transformers, two encoders"], sentence_transformers_variants=["two"]),
        ]
    )
    assert settings["seeds"] == [1, 2, 3]
    assert settings["sentence_transformers_variants"] == ["shared", "two"]
    assert sorted((r["model"], r["seed"]) for r in results["de"]) == [
        ("BM25", 1),
        ("BM25", 2),
        ("BM25", 3),
        ("dpr_nb, shared", 1),
        ("dpr_nb, shared", 2),
        ("sentence-transformers", 1),
        ("sentence-transformers", 2),
        ("sentence-transformers, two encoders", 2),
        ("sentence-transformers, two encoders", 3),
    ]
    with pytest.raises(SystemExit, match="different budgets"):
        quality.combine([run([1], ["dpr_nb"]), {**run([2], ["dpr_nb"]), "epochs": 2}])
