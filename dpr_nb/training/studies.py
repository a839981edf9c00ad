"""Search spaces larger than a grid: an Optuna study whose every trial is a recorded run.

    def space(trial):
        return {"learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-3, log=True),
                "temperature": trial.suggest_float("temperature", 0.02, 1.0, log=True)}

    study = run_study("runs/search", base, space, n_trials=20, metric="top_5_accuracy")
    study.best_params, compare(load_runs("runs/search"))

Optuna chooses each trial's settings from the ones tried so far (its TPE sampler by default); each trial trains with
`train_run` into `runs_dir/trial-NNNN` (its settings as the run's tags), so the study's runs are compared, plotted
and tested question by question like a sweep's. The trial's value is `metric` on `split`, dev by default: the test
split stays for reporting the winner (dpr_nb.training.effects.select_and_report).

Several workers, one study: give them the same `study_name` and a `storage` they all reach (`sqlite:///runs/
search/study.db` for processes on one machine; a database server for several machines): Optuna's storage hands each
worker its own trials. Run it again with the same storage and it goes on where it stopped. Needs the `optuna` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..core.config import TrainConfig
from ..core.errors import MissingDependencyError, SettingsError
from .effects import LOWER_IS_BETTER
from .runs import train_run


def run_study(
    runs_dir: str | Path,
    base: TrainConfig,
    space: Callable,
    n_trials: int,
    metric: str,
    split: str = "dev",
    study_name: str | None = None,
    storage: str | None = None,
    sampler_seed: int | None = None,
    trackers: Sequence[str] = (),
    callbacks: Mapping | None = None,
):
    """Run `n_trials` trials of an Optuna study (created, or loaded from `storage` when it exists) and return it.

    `space(trial)` returns the trial's settings ({field: value}, each from `trial.suggest_*`); the trial trains
    `base` with them and records the run under `runs_dir`. Its value is the run's `metric` on `split`, maximised, or
    minimised for loss and ranks. A run that fails is a failed trial; the study goes on. `sampler_seed` repeats one
    worker's choices; left None, each worker draws its own (workers given one seed would try the same settings)."""
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError('An Optuna study needs the optuna package: pip install "dpr-nb[optuna]"') from None
    folder = Path(runs_dir)
    direction = "minimize" if metric in LOWER_IS_BETTER else "maximize"
    study = optuna.create_study(
        study_name=study_name or folder.name,
        storage=storage,
        load_if_exists=True,
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=sampler_seed),
    )
    if study.direction.name.lower() != direction:
        raise SettingsError(
            f"The study {study.study_name!r} in {storage} {study.direction.name.lower()}s; {metric} needs {direction}:"
            " give this search another study_name."
        )

    def objective(trial) -> float:
        settings = space(trial)
        try:
            config = base.replace(**settings)
        except (ValueError, TypeError) as error:
            raise SettingsError(f"The study's trial {trial.number} chose {settings}: {error}") from None
        run = train_run(
            config,
            folder,
            f"trial-{trial.number:04d}",
            callbacks=callbacks,
            tags={"trial": trial.number, **settings},
            trackers=trackers,
        )
        value = run.reports.get(split, {}).get(metric)
        if value is None:
            held = sorted(run.reports.get(split, {}))
            raise SettingsError(f"{run.folder}: no {metric!r} on {split} (it has {held}).")
        trial.set_user_attr("run", str(run.folder))
        return float(value)

    study.optimize(objective, n_trials=n_trials, catch=(Exception,))
    return study
