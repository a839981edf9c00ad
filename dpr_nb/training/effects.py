"""What a sweep's runs say about its settings: two settings compared question by question (a paired bootstrap, with
dpr_nb.evaluation.paired), the winner chosen on dev and its lead reported on test, and the effects of two factors on
one scale.

    runs = load_runs("runs/04_explore-cpu/batch_size")
    compare_settings(runs, "batch_size", 64, 4, "top_5_accuracy")   # batch 64 minus batch 4 on test, with interval
    select_and_report(runs, "batch_size", "top_5_accuracy")         # the best on dev; its lead on test
    factor_effects(runs, {"batch_size": (4, 64), "num_hard_negatives": (0, 2)}, "top_5_accuracy")

Why dev and test: the split that chooses the winner flatters it (of several settings within the noise, the one that
drew the luckiest questions wins). Its lead is measured again on questions that chose nothing.

Runs are paired when they differ only in the setting compared: the same seed (the same data order and starting
head), and in a grid the same value of the other factor. Each run's per-question results are in its folder
(`Run.question_results`); runs evaluated on different questions are refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..core.errors import SettingsError
from ..evaluation.paired import PairedDifference, paired_bootstrap
from .runs import FINISHED, Run

# Metrics where less is better; every other (accuracies, MRR, recall, nDCG) is better higher.
LOWER_IS_BETTER = ("loss", "average_rank", "gold_rank")
# Fields that name where a run wrote, not what it trained.
_WHERE = ("save_dir", "checkpoint_dir")


def question_matrix(runs: Sequence[Run], metric: str, split: str) -> tuple[np.ndarray, list[str]]:
    """(runs, questions) of each run's per-question `metric` on `split`, and the questions, in the runs' order."""
    if not runs:
        raise SettingsError("No runs to compare: check the setting's values and that the runs finished.")
    tables = [run.question_results(split) for run in runs]
    questions = list(tables[0].index)
    for run, table in zip(runs, tables):
        if list(table.index) != questions:
            raise SettingsError(
                f"{run.folder} was evaluated on other {split} questions than {runs[0].folder}: runs are compared "
                "question by question only on the same questions (the same data, max_samples and dev_split)."
            )
        if metric not in table.columns:
            raise SettingsError(f"{run.folder}: no per-question {metric!r} on {split}; it has {list(table.columns)}.")
    return np.stack([table[metric].to_numpy(dtype=np.float64) for table in tables]), questions


def _key(run: Run, leave_out: Sequence[str]) -> str:
    values = run.config.to_dict()
    return json.dumps({k: v for k, v in values.items() if k not in (*leave_out, *_WHERE)}, sort_keys=True)


def _finished(runs: Sequence[Run], settings: Mapping) -> list[Run]:
    return [
        run
        for run in runs
        if run.status == FINISHED and all(getattr(run.config, name) == value for name, value in settings.items())
    ]


def compare_settings(
    runs: Sequence[Run],
    setting: str,
    a,
    b,
    metric: str,
    split: str = "test",
    where: Mapping | None = None,
    **bootstrap,
) -> PairedDifference:
    """`metric` of the runs with `setting` = a minus that of the runs with `setting` = b, on `split`, question by
    question, with its paired bootstrap interval (`bootstrap`: confidence, resamples, seed). `where` first keeps the
    runs with those settings ({"num_hard_negatives": 0}). Runs of A and B that differ only in `setting` are paired."""
    kept = _finished(runs, where or {})
    runs_a, runs_b = _finished(kept, {setting: a}), _finished(kept, {setting: b})
    if not runs_a or not runs_b:
        values = sorted({repr(getattr(run.config, setting, None)) for run in kept})
        raise SettingsError(
            f"compare_settings: no finished run with {setting}={a!r} or {setting}={b!r} (finished runs have "
            f"{setting} in {', '.join(values) or 'none'})."
        )
    return _paired(runs_a, runs_b, [setting], metric, split, **bootstrap)


def _values(run: Run, by: Sequence[str]):
    values = tuple(getattr(run.config, name) for name in by)
    return values[0] if len(values) == 1 else values


def select_and_report(
    runs: Sequence[Run],
    by: str | Sequence[str],
    metric: str,
    select_on: str = "dev",
    report_on: str = "test",
    **bootstrap,
) -> dict:
    """Choose the best value of `by` (a setting, or several: a grid's cells) by its mean `metric` on `select_on`, and
    report on `report_on` its mean and its lead over the runner-up (chosen on `select_on` too), question by question.

    Returns {"best", "runner-up", "<metric> on <select_on>" (the best's), "<metric> on <report_on>", "lead on
    <report_on>" (a PairedDifference, positive when the best is better: the best's minus the runner-up's for
    accuracies, the runner-up's minus the best's for loss and ranks), "verdict"}."""
    by = [by] if isinstance(by, str) else list(by)
    finished = _finished(runs, {})
    groups: dict = {}
    for run in finished:
        groups.setdefault(_values(run, by), []).append(run)
    if len(groups) < 2:
        raise SettingsError(f"select_and_report: {len(groups)} value(s) of {by} among the finished runs; need two.")
    missing = [str(run.folder) for run in finished if metric not in run.reports.get(select_on, {})]
    if missing:
        raise SettingsError(f"{missing[0]}: no {metric!r} on {select_on} to choose by (and {len(missing) - 1} more).")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    mean = {value: np.mean([run.reports[select_on][metric] for run in group]) for value, group in groups.items()}
    best, runner_up = sorted(groups, key=lambda value: -sign * mean[value])[:2]
    # The lead, as a difference that is positive when the best is better: best - runner-up, or for ranks the reverse.
    first, second = (groups[best], groups[runner_up]) if sign > 0 else (groups[runner_up], groups[best])
    lead = _paired(first, second, by, metric, report_on, **bootstrap)
    reported, _ = question_matrix(groups[best], metric, report_on)
    return {
        "best": best,
        "runner-up": runner_up,
        f"{metric} on {select_on}": float(mean[best]),
        f"{metric} on {report_on}": float(reported.mean()),
        f"lead on {report_on}": lead,
        "verdict": lead.verdict,
    }


def _paired(runs_a: Sequence[Run], runs_b: Sequence[Run], by: Sequence[str], metric: str, split: str, **bootstrap):
    """A's metric minus B's, question by question; runs paired where they differ only in the settings `by`."""
    partner = {_key(run, by): run for run in runs_b}
    paired = len(runs_a) == len(runs_b) and all(_key(run, by) in partner for run in runs_a)
    if paired:
        runs_b = [partner[_key(run, by)] for run in runs_a]
    matrix, _ = question_matrix([*runs_a, *runs_b], metric, split)
    return paired_bootstrap(matrix[: len(runs_a)], matrix[len(runs_a) :], paired_seeds=paired, **bootstrap)


def factor_effects(
    runs: Sequence[Run], factors: Mapping[str, tuple], metric: str, split: str = "test", **bootstrap
) -> pd.DataFrame:
    """The effect of each factor going from its low to its high value ({"batch_size": (4, 64), ...}), on one scale:
    `metric`'s difference on `split` (and in questions), with its paired interval. Each effect is averaged over the
    other factors' listed values, runs paired by them and by seed: a 2 x 2 grid's main effects."""
    rows = {}
    for factor, (low, high) in factors.items():
        others = {name: values for name, values in factors.items() if name != factor}
        kept = [run for run in runs if all(getattr(run.config, name) in values for name, values in others.items())]
        effect = compare_settings(kept, factor, high, low, metric, split, **bootstrap)
        rows[f"{factor}: {low} -> {high}"] = effect.as_dict()
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "effect"
    table.attrs["metric"], table.attrs["split"] = metric, split
    return table
