"""dpr_nb.training.studies: an Optuna study whose trials are recorded runs; its storage continues it (and is what
several workers would share)."""

import pytest

from dpr_nb import TrainConfig
from dpr_nb.training.runs import load_runs
from dpr_nb.training.studies import run_study

optuna = pytest.importorskip("optuna")

BASE = TrainConfig.preset(
    "smoke", max_samples=16, batch_size=8, n_epochs=1, num_warmup_steps=0, save_dir=None, device="cpu"
)


def space(trial):
    return {"learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)}


def test_each_trial_is_a_recorded_run_whose_dev_figure_is_its_value_and_the_storage_continues_it(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = run_study(tmp_path / "search", BASE, space, n_trials=2, metric="average_rank", storage=storage)
    again = run_study(tmp_path / "search", BASE, space, n_trials=1, metric="average_rank", storage=storage)
    trials = again.trials
    assert [t.number for t in trials] == [0, 1, 2] and study.direction.name == "MINIMIZE"  # ranks: lower is better
    runs = {run.name: run for run in load_runs(tmp_path / "search")}
    assert sorted(runs) == ["trial-0000", "trial-0001", "trial-0002"]
    for trial in trials:
        run = runs[f"trial-{trial.number:04d}"]
        assert trial.value == pytest.approx(run.reports["dev"]["average_rank"])
        assert run.config.learning_rate == pytest.approx(trial.params["learning_rate"])
        assert run.tags == {"trial": trial.number, "learning_rate": trial.params["learning_rate"]}
    assert again.best_value == min(t.value for t in trials)


def test_a_failed_run_is_a_failed_trial_and_the_study_goes_on(tmp_path):
    def bad(trial):
        return {"batch_size": 0} if trial.number == 0 else space(trial)  # TrainConfig refuses batch 0

    study = run_study(tmp_path / "search", BASE, bad, n_trials=2, metric="average_rank")
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
