"""A run store: every training run kept in a folder of its own, so runs outlive the notebook that made them.

    run = train_run(TrainConfig.preset("smoke", eval_corpus="builtin"), "runs/first", name="smoke")
    table = compare(load_runs("runs"))          # one row per run: the settings that differ, metrics, time
    summarize(table, "batch_size", "top_5_accuracy")   # mean ± std over seeds, and the size of one question

A run's folder holds, each file written whole (dpr_nb.core.files):

    run.json           status, seed, device, time, peak memory, library versions, the final reports per split
    train_config.json  its TrainConfig (TrainConfig.load reads it back)
    history.json       every step's loss, learning rate and negatives per question; every evaluation
    per_question.json  per held-out split, each question's own result of the final evaluation (its rank, and with
                       eval_corpus its top-k hit, reciprocal rank, recall and gold rank): `Run.question_results`
    model/             the trained model, only with save_model=True: the folder DensePassageRetriever.load reads
                       (dpr_nb.training.saved_model), with the settings it was trained with
    tensorboard/       only with the "tensorboard" tracker (dpr_nb.training.trackers)

run.json is written first with status "running" and last with "finished": a folder whose process died on the way
(a kill, a closed laptop, a Colab disconnect) still says "running", and `load_run` reports it as "interrupted" once
that process is gone. A run stopped by a KeyboardInterrupt, a sweep's Stop button or the dashboard's Stop says
"stopped"; one that raised, "failed" with the error. Only a finished run, and one the dashboard's Stop ended (its
files describe the steps trained), has all of its files; a resumed sweep reruns every run not finished.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd
import torch

from ..core import old_names
from ..core.config import TrainConfig
from ..core.errors import SettingsError
from ..core.files import folder_labels, process_alive, replace_folder, temporary_folder, write_text_atomic
from .trackers import Tracker, make_trackers
from .train import train_model
from .trainer import History, Trainer

RUN_FILE = "run.json"
PER_QUESTION_FILE = "per_question.json"
FINISHED, RUNNING, INTERRUPTED, STOPPED, FAILED = "finished", "running", "interrupted", "stopped", "failed"
# The metrics a comparison shows when none are named: the in-batch report's and, with eval_corpus, the corpus's.
DEFAULT_METRICS = ("loss", "average_rank", "top_1_accuracy", "top_5_accuracy", "top_20_accuracy", "mrr_at_20")


class RunStopped(Exception):
    """Raised inside a run when its `stop()` says so (a sweep's Stop button): the run is recorded as stopped."""


@dataclass
class Run:
    """One recorded run, as `load_run` reads it back from its folder."""

    folder: Path
    name: str
    status: str  # finished, running, interrupted, stopped or failed
    config: TrainConfig
    history: History
    reports: dict = field(default_factory=dict)  # split -> the final evaluation's numbers, with "questions"
    info: dict = field(default_factory=dict)  # the rest of run.json: seconds, memory, device, versions, tags, ...

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def seconds(self) -> float | None:
        return self.info.get("seconds")

    @property
    def tags(self) -> dict:
        """What a sweep set for this run ({"batch_size": 16, "seed": 1}); empty for a run of its own."""
        return self.info.get("tags", {})

    def question_results(self, split: str) -> pd.DataFrame:
        """One row per question of `split`'s final evaluation, indexed by the question: its rank in its batch
        (`average_rank`) and, with eval_corpus, each metric's term (`top_5_accuracy` 1 or 0, `mrr_at_20`, ...) and
        `gold_rank`. Each column's mean is the run's reported metric."""
        path = self.folder / PER_QUESTION_FILE
        results = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if split not in results:
            held = ", ".join(results) or "none"
            raise SettingsError(
                f"{self.folder}: no per-question results of split {split!r} (this run has: {held}). A run records "
                "them for each split it evaluates; one recorded by an older dpr_nb has none: train it again."
            )
        return pd.DataFrame(results[split]).set_index("question")


# ---------------------------------------------------------------------------------------------------------------
# Recording


def library_versions() -> dict[str, str]:
    # torch's own version names its build ("2.4.0+cu121", "2.13.0+cpu"), which the package metadata may leave out.
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for package in ("dpr-nb", "transformers"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:  # a source checkout that was never installed
            versions[package] = "not installed"
    return versions


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, values: dict) -> None:
    write_text_atomic(path, json.dumps(values, indent=1, default=str) + "\n")


def _peak_memory(device: torch.device) -> dict:
    """The run's peak memory, and what was measured: a GPU's peak is the run's own, a CPU's the whole process's."""
    if device.type == "cuda":
        return {"peak_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20, "memory": "GPU, this run"}
    try:
        import resource  # not on Windows
    except ImportError:
        return {"peak_memory_mb": None, "memory": "not measured"}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    peak_mb = peak / 2**20 if sys.platform == "darwin" else peak / 2**10
    return {"peak_memory_mb": peak_mb, "memory": "the process's peak resident memory, earlier work included"}


def run_name(point: Mapping) -> str:
    """A folder name from a run's settings: {"batch_size": 16, "seed": 1} -> "batch_size=16,seed=1".

    >>> run_name({"learning_rate": 0.0005, "model": "org/name"})
    'learning_rate=0.0005,model=org_name'
    """
    parts = [f"{key}={value}" for key, value in point.items()]
    return ",".join(parts).replace("/", "_").replace("\\", "_").replace(" ", "") or "base"


def train_run(
    config: TrainConfig,
    runs_dir: str | Path,
    name: str | None = None,
    save_model: bool = False,
    callbacks: Mapping[str, Callable | Sequence[Callable]] | None = None,
    tags: Mapping | None = None,
    stop: Callable[[], bool] | None = None,
    tensorboard: bool = False,
    progress_bar: bool = False,
    overwrite: bool = False,
    trackers: Sequence[str | Tracker] = (),
) -> Run:
    """Train `config` from its models' starting weights, evaluate dev (and test), and record it all under
    runs_dir/name; returns the Run as `load_run` reads it back.

    A finished run of the same name is refused unless `overwrite`; an unfinished one (interrupted, stopped,
    failed) is replaced. `stop()` is asked after every step; when it says True the run ends as "stopped".
    `trackers` ("tensorboard", "mlflow", "wandb", "trackio", or Tracker objects: dpr_nb.training.trackers) also
    receive every step and evaluation, the run named as its folder in a project named as runs_dir;
    `tensorboard=True` is trackers=["tensorboard"].
    """
    name = name or datetime.now().strftime("run-%Y%m%d-%H%M%S-%f")
    folder = Path(runs_dir) / name
    earlier = folder / RUN_FILE
    if earlier.exists() and not overwrite and json.loads(earlier.read_text(encoding="utf-8"))["status"] == FINISHED:
        raise SettingsError(
            f"{folder} holds a finished run: pass another name, or overwrite=True to train it again in its place."
        )
    # A new run starts from an empty folder: files of an earlier attempt must not pass for this run's.
    fresh = temporary_folder(folder)
    fresh.mkdir(parents=True)
    info = {
        "name": name,
        "status": RUNNING,
        "seed": config.seed,
        "tags": dict(tags or {}),
        "started": _now(),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "versions": library_versions(),
    }
    config.save(fresh / "train_config.json")
    _write_json(fresh / RUN_FILE, info)
    replace_folder(fresh, folder)

    started = time.perf_counter()
    trainers, loggers = [], []  # the trainer, once training starts: its history is written even if the run fails

    def watch(trainer):
        trainers.append(trainer)
        info["device"] = str(trainer.device)
        if trainer.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(trainer.device)

    events: dict[str, list[Callable]] = {"on_train_start": [watch]}
    for event, functions in (callbacks or {}).items():
        events.setdefault(event, []).extend(functions if isinstance(functions, (list, tuple)) else [functions])
    if stop is not None:

        def check(trainer, record):
            if stop():
                raise RunStopped(f"stopped at step {record['step']}")

        events.setdefault("on_step_end", []).append(check)
    # The run's own folders: its model in model/, checkpoints (when the config asks for them) in checkpoints/, so
    # that the runs of a sweep never write over each other's.
    trained_config = config.replace(
        save_dir=str(folder / "model") if save_model else None,
        checkpoint_dir=str(folder / "checkpoints") if config.checkpoint_dir else None,
    )
    try:
        names = [*trackers, *(["tensorboard"] if tensorboard and "tensorboard" not in trackers else [])]
        loggers = make_trackers(names, folder, Path(runs_dir).resolve().name, name, config)
        for logger in loggers:
            for event, function in logger.callbacks().items():
                events.setdefault(event, []).append(function)
        trained = train_model(trained_config, callbacks=events, progress_bar=progress_bar)
        info["reports"] = trained.history.kept_evaluations  # each split's evaluation of the weights training kept
        _write_json(folder / PER_QUESTION_FILE, trained.per_question)
    except BaseException as error:
        info["status"] = STOPPED if isinstance(error, (RunStopped, KeyboardInterrupt)) else FAILED
        info["error"] = f"{type(error).__name__}: {error}"
        _finish(folder, info, trainers[-1] if trainers else None, started)
        raise
    finally:
        for logger in loggers:
            logger.close()
    # The dashboard's Stop (Trainer.request_stop) ends training early but keeps its files: recorded, not finished,
    # so that a sweep trains it again in full.
    info["status"] = FINISHED if trained.history.stopped_at is None else STOPPED
    _finish(folder, info, trainers[-1], started)
    return load_run(folder)


def _finish(folder: Path, info: dict, trainer: Trainer | None, started: float) -> None:
    """The history, then run.json with the final status: written last, so "finished" means every file is there."""
    info["seconds"] = time.perf_counter() - started
    info["finished"] = _now()
    if trainer is not None:  # None: the run failed before training began (its data, its model)
        write_text_atomic(folder / "history.json", json.dumps(trainer.history.to_dict(), indent=1) + "\n")
        info.update(_peak_memory(trainer.device))
    _write_json(folder / RUN_FILE, info)


# ---------------------------------------------------------------------------------------------------------------
# Reading back


def load_run(folder: str | Path) -> Run:
    folder = Path(folder)
    path = folder / RUN_FILE
    if not path.is_file():
        raise SettingsError(f"{folder} is not a recorded run (no {RUN_FILE}); runs are folders made by train_run.")
    info = json.loads(path.read_text(encoding="utf-8"))
    status = info.get("status", RUNNING)
    if status == RUNNING and info.get("host") == socket.gethostname() and not process_alive(info.get("pid", -1)):
        status = INTERRUPTED  # its process is gone: it will never finish
    history_file = folder / "history.json"
    history = (
        History.from_dict(json.loads(history_file.read_text(encoding="utf-8"))) if history_file.is_file() else History()
    )
    config = TrainConfig.load(folder / "train_config.json")
    reports = info.pop("reports", {})
    return Run(folder, info.get("name", folder.name), status, config, history, reports, info)


def load_runs(runs_dir: str | Path, status: str | Sequence[str] | None = None) -> list[Run]:
    """Every run under runs_dir (sweeps' subfolders included), oldest first; `status` keeps only those."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    wanted = {status} if isinstance(status, str) else set(status or ())
    runs = []
    for path in sorted(runs_dir.rglob(RUN_FILE)):
        if any(part.startswith(".") for part in path.relative_to(runs_dir).parts):
            continue  # a folder being written (.NAME.tmp-PID) or swapped out
        run = load_run(path.parent)
        if not wanted or run.status in wanted:
            runs.append(run)
    return sorted(runs, key=lambda run: (run.info.get("started", ""), str(run.folder)))


# ---------------------------------------------------------------------------------------------------------------
# Comparing


def config_diff(configs: Sequence[TrainConfig]) -> list[str]:
    """The TrainConfig fields whose values are not the same in every config, in the class's order.

    >>> config_diff([TrainConfig(batch_size=4), TrainConfig(batch_size=16), TrainConfig(batch_size=16, seed=1)])
    ['batch_size', 'seed']
    """
    values = [config.to_dict() for config in configs]
    return [name for name in (values[0] if values else {}) if len({json.dumps(v[name]) for v in values}) > 1]


def run_labels(runs: Sequence[Run]) -> list[str]:
    """Each run's folder, relative to the folder that holds them all (dpr_nb.core.files.folder_labels): its name for the
    runs of one sweep, "sweep/name" for runs of several, so two runs of one name (the same settings in two sweeps)
    are two rows."""
    return folder_labels([run.folder for run in runs], [run.name for run in runs])


def _metric_split(runs: Sequence[Run]) -> str | None:
    """The split a comparison reports: test where every run has one (questions no run chose anything by), else dev."""
    for split in ("test", "dev"):
        if runs and all(split in run.reports for run in runs):
            return split
    return None


def compare(
    runs: Sequence[Run],
    metrics: Sequence[str] | None = None,
    where: Mapping | None = None,
    sort_by: str | Sequence[str] | None = None,
    ascending: bool = False,
    split: str | None = None,
    csv: str | Path | None = None,
) -> pd.DataFrame:
    """One row per run, named by its folder (`run_labels`): the settings that differ between the runs (a config
    diff), then the metrics of `split`'s final evaluation (test where every run has one, else dev; of the weights
    the run kept), the questions it had, the mean negatives per question of the run's steps, the steps, seconds and
    peak memory.

    `where` keeps rows by column: {"batch_size": 16} or {"top_5_accuracy": lambda v: v > 0.3}; `sort_by` sorts
    (descending unless `ascending`); `csv` also writes the table there.
    """
    runs, labels = list(runs), run_labels(runs)
    if len(set(labels)) < len(labels):
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        warnings.warn(
            f"compare: {repeated} were given more than once (the same run folder); each is one row.", stacklevel=2
        )
    split = split or _metric_split(runs)
    settings = config_diff([run.config for run in runs])
    if metrics is None:
        present = {key for run in runs for key in run.reports.get(split, {})}
        metrics = [name for name in DEFAULT_METRICS if name in present]
    rows = {}
    for label, run in zip(labels, runs):
        report, steps = run.reports.get(split, {}), run.history.steps
        row = {name: getattr(run.config, name) for name in settings}
        row["status"] = run.status
        row.update({name: report.get(name, math.nan) for name in metrics})
        row["questions"] = report.get("questions")
        row["negatives"] = sum(s.get("negatives", math.nan) for s in steps) / len(steps) if steps else math.nan
        row["steps"] = len(steps)
        row["seconds"] = math.nan if run.seconds is None else run.seconds
        memory = run.info.get("peak_memory_mb")
        row["peak_memory_mb"] = math.nan if memory is None else memory
        rows[label] = row  # keyed by folder: two sweeps' runs of the same settings are two rows
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "run"
    table.attrs["split"] = split  # which split's questions the metrics are of, for summarize and the plots
    for column, wanted in (where or {}).items():
        if column not in table.columns:
            raise SettingsError(f"where: {column!r} is not a column of the table; columns are {list(table.columns)}")
        keep = table[column].map(wanted) if callable(wanted) else table[column] == wanted
        table = table[keep.astype(bool)]
    if sort_by is not None:
        table = table.sort_values(sort_by, ascending=ascending)
    if csv is not None:
        write_text_atomic(csv, table.to_csv())
    return table


def summarize(table: pd.DataFrame, by: str | Sequence[str], metric: str) -> pd.DataFrame:
    """`metric` per value of the setting(s) `by`, over the runs (seeds) that share it: mean, standard deviation
    (n - 1), how many runs, and "one question": how much one question more or less moves the metric (1 / the
    questions evaluated). A difference smaller than the std, or than a few questions, is noise.

    >>> table = pd.DataFrame({"batch_size": [4, 4, 16, 16], "top_5_accuracy": [0.30, 0.34, 0.41, 0.45],
    ...                       "questions": [100] * 4})
    >>> summarize(table, "batch_size", "top_5_accuracy").round(3).to_dict("index")[16]
    {'mean': 0.43, 'std': 0.028, 'runs': 2, 'one question': 0.01, 'top_5_accuracy': '0.430 ± 0.028'}
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [name for name in [*by, metric] if name not in table.columns]
    if missing:
        raise SettingsError(f"summarize: {missing} are not columns of the table; columns are {list(table.columns)}")
    keys = table[by].astype(object).where(table[by].notna(), "None")  # None is a value of its own (no caching)
    groups = table.groupby([keys[name] for name in by], sort=False)[metric]
    summary = pd.DataFrame({"mean": groups.mean(), "std": groups.std(), "runs": groups.count()})
    questions = (
        table.groupby([keys[name] for name in by], sort=False)["questions"].max() if "questions" in table else None
    )
    summary["one question"] = 1 / questions if questions is not None else math.nan
    summary[metric] = [f"{m:.3f} ± {s:.3f}" if s == s else f"{m:.3f}" for m, s in zip(summary["mean"], summary["std"])]
    summary.index.names = by
    return summary


def __getattr__(name: str):
    return old_names.renamed_attribute(__name__, name)  # TensorBoardLogger, in dpr_nb.training.trackers since 0.4
