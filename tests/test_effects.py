"""dpr_nb.training.effects on run stores whose truth is known: synthetic runs (their per-question results drawn with a
set effect of each setting) written in the run store's own files, then read back as load_runs reads any sweep."""

import json

import numpy as np
import pytest

from dpr_nb import TrainConfig
from dpr_nb.core.errors import SettingsError
from dpr_nb.training.effects import compare_settings, factor_effects, select_and_report
from dpr_nb.training.runs import load_runs, run_name

QUESTIONS = {split: [f"{split} question {i}" for i in range(100)] for split in ("dev", "test")}


def write_run(runs_dir, config, hits_by_split):
    """A finished run's folder as train_run leaves it: run.json, train_config.json, per_question.json. A question
    missed ranks its gold passage 3rd, one found 1st (rank 0)."""
    tags = {"batch_size": config.batch_size, "num_hard_negatives": config.num_hard_negatives, "seed": config.seed}
    folder = runs_dir / f"{run_name(tags)},lr={config.learning_rate}"
    folder.mkdir(parents=True)
    config.save(folder / "train_config.json")
    per_question = {
        split: {"question": QUESTIONS[split], "average_rank": list((1 - hits) * 3), "top_5_accuracy": list(hits)}
        for split, hits in hits_by_split.items()
    }
    reports = {
        split: {"top_5_accuracy": np.mean(v["top_5_accuracy"]), "average_rank": np.mean(v["average_rank"])}
        for split, v in per_question.items()
    }
    (folder / "per_question.json").write_text(json.dumps(per_question))
    (folder / "run.json").write_text(json.dumps({"name": folder.name, "status": "finished", "reports": reports}))


def draw(rng, probability):
    return (rng.random(100) < probability).astype(float)


@pytest.fixture
def grid(tmp_path):
    """Batch 4 or 64, 0 or 2 hard negatives, 3 seeds: batch 64 answers 25 % more questions, hard negatives nothing.
    Each seed has its own luck, shared by the runs of that seed (the same shuffle and head)."""
    rng = np.random.default_rng(7)
    difficulty = {split: rng.uniform(0.2, 0.5, 100) for split in QUESTIONS}
    for seed in range(3):
        luck = rng.normal(0, 0.03)
        for batch in (4, 64):
            for hard in (0, 2):
                config = TrainConfig(batch_size=batch, num_hard_negatives=hard, seed=seed)
                hits = {s: draw(rng, d + luck + 0.25 * (batch == 64)) for s, d in difficulty.items()}
                write_run(tmp_path, config, hits)
    return load_runs(tmp_path)


def test_two_factors_on_one_scale_each_averaged_over_the_other_and_paired(grid):
    effects = factor_effects(grid, {"batch_size": (4, 64), "num_hard_negatives": (0, 2)}, "top_5_accuracy")
    batch, hard = effects.loc["batch_size: 4 -> 64"], effects.loc["num_hard_negatives: 0 -> 2"]
    # By hand: the mean of the six runs at batch 64 minus the six at batch 4, on test.
    test = {run.config.batch_size: [] for run in grid}
    for run in grid:
        test[run.config.batch_size].append(run.question_results("test")["top_5_accuracy"].mean())
    assert batch["difference"] == pytest.approx(np.mean(test[64]) - np.mean(test[4]))
    assert batch["in questions"] == pytest.approx(100 * batch["difference"])
    assert batch["difference"] == pytest.approx(0.25, abs=0.06) and batch["low"] > 0 and batch["verdict"] == "clear"
    assert hard["low"] < 0 < hard["high"] and hard["verdict"] == "within the noise"
    assert batch["runs"] == "6 vs 6 (paired seeds)"  # paired by seed and by the other factor's value
    assert effects.attrs == {"metric": "top_5_accuracy", "split": "test"}


def test_a_missing_partner_run_leaves_the_comparison_unpaired(grid, tmp_path):
    kept = [run for run in grid if not (run.config.batch_size == 4 and run.config.seed == 2)]
    paired = compare_settings(grid, "batch_size", 64, 4, "top_5_accuracy", where={"num_hard_negatives": 0})
    unpaired = compare_settings(kept, "batch_size", 64, 4, "top_5_accuracy", where={"num_hard_negatives": 0})
    assert paired.paired_seeds and paired.seeds == (3, 3)
    assert not unpaired.paired_seeds and unpaired.seeds == (3, 2)
    with pytest.raises(SettingsError, match=r"no finished run with batch_size=16 .* batch_size in 4, 64"):
        compare_settings(grid, "batch_size", 16, 4, "top_5_accuracy")


def test_the_winner_is_chosen_on_dev_and_its_lead_measured_again_on_test(tmp_path):
    """Three learning rates that do the same; one drew lucky dev questions. Chosen on dev it wins; on test its lead
    is within the noise, and its test score is not its flattering dev score."""
    rng = np.random.default_rng(11)
    difficulty = {split: rng.uniform(0.3, 0.6, 100) for split in QUESTIONS}
    for rate in (1e-4, 5e-4, 2e-3):
        for seed in range(3):
            lucky = 0.15 if rate == 5e-4 else 0.0
            hits = {s: draw(rng, d + (lucky if s == "dev" else 0.0)) for s, d in difficulty.items()}
            write_run(tmp_path, TrainConfig(learning_rate=rate, seed=seed), hits)
    chosen = select_and_report(load_runs(tmp_path), "learning_rate", "top_5_accuracy")
    assert chosen["best"] == 5e-4 and chosen["runner-up"] in (1e-4, 2e-3)
    assert chosen["top_5_accuracy on dev"] > chosen["top_5_accuracy on test"] + 0.08
    assert chosen["verdict"] == "within the noise" == chosen["lead on test"].verdict
    assert chosen["lead on test"].paired_seeds


def test_a_rank_is_better_lower(grid):
    chosen = select_and_report(grid, "batch_size", "average_rank")
    assert chosen["best"] == 64 and chosen["lead on test"].difference > 0  # the lead: how much lower batch 64's is


def test_runs_on_other_questions_are_refused_naming_the_run(grid, tmp_path):
    other = tmp_path / "other"
    write_run(other, TrainConfig(batch_size=4, seed=0, learning_rate=1.0), {"test": np.ones(100)})
    path = next(other.iterdir()) / "per_question.json"
    values = json.loads(path.read_text())
    values["test"]["question"][0] = "another question"
    path.write_text(json.dumps(values))
    runs = [run for run in grid if run.config.batch_size == 64] + load_runs(other)
    with pytest.raises(SettingsError, match=r"was evaluated on other test questions than"):
        compare_settings(runs, "batch_size", 64, 4, "top_5_accuracy")
