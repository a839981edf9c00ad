"""Sweeps: a grid (or a random sample) of settings, each point trained with several seeds, every run recorded.

    base = TrainConfig.preset("smoke", eval_corpus="builtin", save_dir=None)
    table = run_sweep("runs/batch_size", base, {"batch_size": [4, 16, 64]}, seeds=[0, 1, 2], time_budget=600)
    summarize(table, "batch_size", "top_5_accuracy")     # mean ± std over the seeds, and one question's worth

Why seeds: on 100 held-out questions one question is 0.01 of top-k accuracy, and two seeds of one setting often
differ by several. A difference between settings means something only when it is larger than that spread.

A sweep lives in one folder: `sweep.json` (what was asked) and one run folder per point and seed (dpr_nb.training.runs),
named by its settings ("batch_size=16,seed=1"). Run the same call again after an interruption and it continues:
finished runs are skipped, an interrupted one is trained again from its start. A call that asks for another sweep
in the same folder is refused, so results of two questions never mix in one table.

Before the first run, `estimate_cost` times a few steps of each kind of run (runs that differ only in learning
rate, temperature or seed cost the same) and one evaluation, and multiplies out; with `time_budget` (seconds) a
sweep that would take longer says so before it starts.

Several workers may run one sweep: processes on one machine (one per GPU: `CUDA_VISIBLE_DEVICES=1 python sweep.py`)
or machines sharing the folder (a network disk, a shared Drive). Each run is claimed before it trains, by a file
`.NAME.claim` beside its folder naming the worker's process and host, so no run is trained twice: a worker skips the
runs others hold. A claim is released when its run ends, however it ends. One whose process died on this machine
is taken over at once; one of another machine, whose process cannot be seen from here, once it has not been
touched for `claim_timeout` seconds (a training run touches its claim at every step, at most every 30 seconds).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import socket
import time
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch

from ..core.config import TrainConfig, closest_field
from ..core.errors import SettingsError
from ..core.files import ENTERED_AGAIN, HELD, dead_on_this_host, release_lock, take_lock, write_text_atomic
from ..data.records_on_disk import take
from ..data.splits import load_training_data
from ..model.encoders import BiEncoder
from .runs import FINISHED, RUN_FILE, STOPPED, Run, RunStopped, compare, load_run, run_name, train_run
from .trainer import Trainer

SWEEP_FILE = "sweep.json"
# Another machine's claim untouched this long (seconds) is taken to be a dead worker's: longer than any step and
# evaluation, so that a live worker's run is never trained twice.
CLAIM_TIMEOUT = 30 * 60
HEARTBEAT_SECONDS = 30
CONTINUE = "Run the same sweep again to continue it."  # said wherever a sweep stops before its end
# Settings that change what a run learns but not what a step costs: runs that differ only in these are timed once.
COST_FREE = (
    "learning_rate",
    "temperature",
    "seed",
    "num_warmup_steps",
    "weight_decay",
    "epsilon",
    "max_grad_norm",
    "dropout",
    "similarity_function",
    "n_epochs",
    "max_steps",
    "max_samples",
    "evaluate_every",
    "selection_metric",
    "early_stopping_patience",
    "save_dir",
    "checkpoint_dir",
    "checkpoint_every",
    "checkpoints_to_keep",
)


# ---------------------------------------------------------------------------------------------------------------
# Planning


def sweep_points(
    space: Mapping[str, Sequence] | Sequence[Mapping],
    mode: str = "grid",
    samples: int | None = None,
    sample_seed: int = 0,
) -> list[dict]:
    """The settings of each point: every combination ("grid"), `samples` of them drawn ("random"), or the points
    themselves when `space` is a list of dicts.

    >>> sweep_points({"batch_size": [4, 16], "learning_rate": [1e-4]})
    [{'batch_size': 4, 'learning_rate': 0.0001}, {'batch_size': 16, 'learning_rate': 0.0001}]
    """
    if not isinstance(space, Mapping):
        return [dict(point) for point in space]
    if mode not in ("grid", "random"):
        raise SettingsError(f"mode={mode!r}: use 'grid' (every combination) or 'random' (samples of them).")
    for name, values in space.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise SettingsError(f"space[{name!r}] = {values!r}: give a non-empty list of values, e.g. [4, 16, 64].")
    grid = [dict(zip(space, values)) for values in itertools.product(*space.values())]
    if mode == "grid":
        return grid
    if not samples or samples < 1:
        raise SettingsError("mode='random' needs samples=N: how many of the combinations to train.")
    # Drawn without replacement, and kept in grid order so the table reads in order of the settings.
    chosen = sorted(random.Random(sample_seed).sample(range(len(grid)), min(samples, len(grid))))
    return [grid[i] for i in chosen]


def plan_sweep(
    base: TrainConfig,
    space: Mapping[str, Sequence] | Sequence[Mapping],
    seeds: Sequence[int] = (0,),
    mode: str = "grid",
    samples: int | None = None,
    sample_seed: int = 0,
) -> list[tuple[str, TrainConfig, dict]]:
    """(run name, config, tags) of every run: each point with each seed. Unknown fields and values a TrainConfig
    refuses are found here, before anything trains."""
    fields = typing.get_type_hints(TrainConfig)
    if not seeds:
        raise SettingsError("seeds=[]: give at least one seed, e.g. seeds=[0, 1, 2].")
    plan = []
    for point in sweep_points(space, mode, samples, sample_seed):
        for name in point:
            if name not in fields:
                close = closest_field(name)
                hint = f"did you mean {close!r}?" if close else "TrainConfig.sections() lists them."
                raise SettingsError(f"The sweep's setting {name!r} is not a TrainConfig field; {hint}")
        if "seed" in point:
            raise SettingsError("Give seeds through seeds=[...], not as a setting of the sweep.")
        for seed in seeds:
            tags = {**point, "seed": seed}
            try:
                config = base.replace(**tags)
            except (ValueError, TypeError) as error:
                raise SettingsError(f"The sweep's point {point}: {error}") from None
            plan.append((run_name(tags), config, tags))
    _refuse_repeated_names([name for name, _, _ in plan], "two points of the sweep")
    return plan


def _refuse_repeated_names(names: Sequence[str], what: str) -> None:
    """A run's name is its folder: two runs of one name would overwrite each other's results."""
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SettingsError(
            f"{what} make runs of the same name ({', '.join(repeated)}): a run's name is its folder, so one would "
            "overwrite the other. Give each point other settings, or put the sweeps in separate runs_dirs and "
            "estimate them as {sweep_name: plan, ...}."
        )


# ---------------------------------------------------------------------------------------------------------------
# Cost before launch


def _total_steps(config: TrainConfig, questions: int) -> int:
    return config.total_steps(math.ceil(questions / config.batch_size))


def _evaluations(config: TrainConfig, steps: int, has_dev: bool, has_test: bool) -> int:
    """How many evaluations a run makes: dev every evaluate_every steps and at the end, test once."""
    every = config.evaluate_every
    dev = (len([s for s in range(1, steps) if s % every == 0]) if every else 0) + 1 if has_dev else 0
    return dev + int(has_test)


def estimate_cost(
    plan: Sequence[tuple[str, TrainConfig, dict]] | Mapping[str, Sequence[tuple[str, TrainConfig, dict]]],
    probe_steps: int = 3,
) -> pd.DataFrame:
    """Each run's time and memory, from `probe_steps` measured steps (after one untimed warm-up step) and one
    measured evaluation of each kind of run. `table.attrs["total_seconds"]` is the whole plan's.

    `plan` is plan_sweep's list, or several sweeps' as {sweep folder: plan}: their rows are then named
    "folder/run", since two sweeps may each have a run of the same name (batch 32 in a caching and a batch-size
    sweep). One list whose runs share a name is refused: one row would hide the other's cost.

    Memory: on a GPU the probe's measured peak; on a CPU the weights, gradients and AdamW's two moments (16 bytes
    a parameter), which a run needs at least.
    """
    if probe_steps < 1:
        raise SettingsError(f"probe_steps={probe_steps} must be at least 1.")
    if isinstance(plan, Mapping):
        plan = [(f"{sweep}/{name}", config, tags) for sweep, runs in plan.items() for name, config, tags in runs]
    _refuse_repeated_names([name for name, _, _ in plan], "estimate_cost: runs of the plan")
    data, measured, rows = {}, {}, {}
    for name, config, _ in plan:
        data_key = json.dumps([config.data_dir, config.train_filename, config.dev_filename, config.test_filename])
        data_key += json.dumps([config.max_samples, config.dev_split, config.seed, config.records_on_disk])
        if data_key not in data:
            started = time.perf_counter()
            data[data_key] = load_training_data(config), time.perf_counter() - started
        splits, reading = data[data_key]
        cost_key = json.dumps({k: v for k, v in config.to_dict().items() if k not in COST_FREE})
        if cost_key not in measured:
            measured[cost_key] = _probe(config, splits, probe_steps)
        setup, per_step, per_evaluation, memory_mb, memory = measured[cost_key]
        steps = _total_steps(config, len(splits["train"]))
        evaluations = _evaluations(config, steps, bool(splits["dev"]), bool(splits["test"]))
        rows[name] = {
            "steps": steps,
            "seconds_per_step": per_step,
            "evaluations": evaluations,
            "estimated_seconds": reading + setup + steps * per_step + evaluations * per_evaluation,
            "memory_mb": memory_mb,
            "memory": memory,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "run"
    table.attrs["total_seconds"] = float(table["estimated_seconds"].sum()) if rows else 0.0
    return table


def _probe(config: TrainConfig, splits: dict, probe_steps: int) -> tuple[float, float, float, float, str]:
    """(seconds to load the model, per step, per evaluation, memory in MB, what the memory is) of a kind of run."""
    questions = config.batch_size * config.grad_acc_steps * (probe_steps + 1)  # one warm-up step, then the timed
    train = take(splits["train"], range(min(questions, len(splits["train"]))))
    probe = config.replace(
        n_epochs=1, max_steps=None, evaluate_every=0, save_dir=None, checkpoint_dir=None, num_warmup_steps=0
    )
    started = time.perf_counter()
    model = BiEncoder.from_pretrained(config.query_model, config.passage_model)
    trainer = Trainer(model, probe, train, progress_bar=False)
    setup = time.perf_counter() - started
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(trainer.device)
    times = []
    trainer.add_callback("on_step_end", lambda trainer, record: times.append(time.perf_counter()))
    trainer.train()
    timed = [later - earlier for earlier, later in zip(times, times[1:])] or [0.0]  # the first step: warm-up
    evaluated = splits["dev"] or splits["test"]
    started = time.perf_counter()
    if evaluated:
        trainer.evaluate(evaluated, "probe")
    per_evaluation = time.perf_counter() - started
    if trainer.device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(trainer.device) / 2**20
        return setup, sum(timed) / len(timed), per_evaluation, peak, "GPU, measured"
    parameters = sum(p.numel() for p in model.parameters())
    return setup, sum(timed) / len(timed), per_evaluation, 16 * parameters / 2**20, "weights + AdamW state, at least"


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


# ---------------------------------------------------------------------------------------------------------------
# Running


def _spec(base, space, seeds, mode, samples, sample_seed) -> dict:
    # Through JSON, so that a tuple and a list of the same values are the same sweep.
    return json.loads(
        json.dumps(
            {
                "base": base.to_dict(),
                "space": space if isinstance(space, Mapping) else list(space),
                "seeds": list(seeds),
                "mode": mode,
                "samples": samples,
                "sample_seed": sample_seed,
            }
        )
    )


def _check_same_sweep(folder: Path, spec: dict) -> None:
    path = folder / SWEEP_FILE
    if not path.is_file():
        return
    earlier = json.loads(path.read_text(encoding="utf-8"))
    differences = [key for key in spec if key != "base" and earlier.get(key) != spec[key]]
    differences += [f"base {name}" for name in spec["base"] if earlier.get("base", {}).get(name) != spec["base"][name]]
    if differences:
        raise SettingsError(
            f"runs_dir={str(folder)!r} holds another sweep (differing: {', '.join(differences)}). To continue it, "
            f"call run_sweep with its settings ({path}); for a new question, choose another runs_dir."
        )


def pending_runs(runs_dir: str | Path, plan: Sequence[tuple[str, TrainConfig, dict]]) -> list:
    """The runs of `plan` (plan_sweep's list) that `runs_dir` does not hold finished: what a sweep still trains, and
    what a cost estimate should time."""
    return [entry for entry in plan if not is_finished(Path(runs_dir) / entry[0], entry[1])]


def is_finished(folder: Path, config: TrainConfig) -> bool:
    """Whether `folder` holds a finished run of exactly `config`."""
    if not (folder / RUN_FILE).is_file():
        return False
    info = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    return info.get("status") == FINISHED and TrainConfig.load(folder / "train_config.json") == config


# ---------------------------------------------------------------------------------------------------------------
# Several workers, one sweep


def claim_file(runs_dir: str | Path, name: str) -> Path:
    """The file that claims run `name` of the sweep in `runs_dir` for a worker while it trains."""
    return Path(runs_dir) / f".{name}.claim"


def claim_run(claim: Path, timeout: float = CLAIM_TIMEOUT) -> str:
    """Claim a run for this process: "" when it is ours now, else the "PID@HOST" of the worker that holds it. A
    claim whose process died on this host is taken over, and so is another host's untouched for `timeout` s."""

    def abandoned(holder: tuple[str, int] | None) -> bool:
        if dead_on_this_host(holder):
            return True
        if holder[0] == socket.gethostname():
            return False  # its process runs, here
        try:
            return time.time() - claim.stat().st_mtime > timeout
        except FileNotFoundError:
            return True

    taken = take_lock(claim, abandoned)
    return "" if taken in (HELD, ENTERED_AGAIN) else taken


def _heartbeat(claim: Path) -> Callable:
    """A step callback that touches `claim` at most every HEARTBEAT_SECONDS: the run's worker is alive."""
    touched = [time.monotonic()]

    def touch(trainer, record) -> None:
        if time.monotonic() - touched[0] >= HEARTBEAT_SECONDS:
            touched[0] = time.monotonic()
            try:
                os.utime(claim)
            except FileNotFoundError:  # deleted by hand: the run goes on, unclaimed
                pass

    return touch


def _with_heartbeat(callbacks: Mapping | None, claim: Path) -> dict:
    events = {event: list(f) if isinstance(f, (list, tuple)) else [f] for event, f in (callbacks or {}).items()}
    events.setdefault("on_step_end", []).append(_heartbeat(claim))
    return events


def run_sweep(
    runs_dir: str | Path,
    base: TrainConfig,
    space: Mapping[str, Sequence] | Sequence[Mapping],
    seeds: Sequence[int] = (0,),
    mode: str = "grid",
    samples: int | None = None,
    sample_seed: int = 0,
    time_budget: float | None = None,
    estimate: bool | None = None,
    probe_steps: int = 3,
    save_models: bool = False,
    callbacks: Mapping | None = None,
    stop: Callable[[], bool] | None = None,
    on_run_end: Callable[[Run], None] | None = None,
    log: Callable[[str], None] | None = print,
    claim_timeout: float = CLAIM_TIMEOUT,
    trackers: Sequence[str] = (),
) -> pd.DataFrame:
    """Train every point of `space` (a dict {field: [values]}, or a list of dicts) with every seed, record each
    run under `runs_dir`, and return the comparison table of the sweep's runs (dpr_nb.training.runs.compare).

    Finished runs are skipped, so calling it again after an interruption continues the sweep; so are runs another
    worker has claimed (the module's docstring: several workers, one sweep). With
    `time_budget` (seconds), or `estimate=True`, the runs still to train are first timed (`estimate_cost`) and a
    sweep over budget is warned about before it starts. `stop()` is asked before each run and after each step;
    `on_run_end(run)` is called after each run (a live table); `callbacks` go to every run's trainer, and
    `trackers` ("tensorboard", "mlflow", "wandb", "trackio") get every run, named as its folder. A run that
    fails (a diverged loss, say) is recorded as failed and the sweep goes on: in a sweep it is a finding.
    """
    folder = Path(runs_dir)
    say = log or (lambda line: None)
    plan = plan_sweep(base, space, seeds, mode, samples, sample_seed)
    spec = _spec(base, space, seeds, mode, samples, sample_seed)
    _check_same_sweep(folder, spec)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / SWEEP_FILE, json.dumps({**spec, "runs": [name for name, _, _ in plan]}, indent=1))

    pending = pending_runs(folder, plan)
    if len(pending) < len(plan):
        say(f"{len(plan) - len(pending)} of {len(plan)} runs already finished in {folder}: continuing with the rest.")
    if pending and (estimate or (estimate is None and time_budget is not None)):
        cost = estimate_cost(pending, probe_steps)
        total = cost.attrs["total_seconds"]
        say(f"Estimated: {len(pending)} runs, about {_clock(total)} (from {probe_steps} timed steps of each kind).")
        if time_budget is not None and total > time_budget:
            warnings.warn(
                f"The sweep's {len(pending)} runs would take about {_clock(total)}, more than "
                f"time_budget={time_budget:g} s ({_clock(time_budget)}): use fewer values or seeds, a smaller "
                "max_samples or fewer n_epochs, or raise time_budget.",
                stacklevel=2,
            )

    elsewhere = []  # runs other workers were training
    for number, (name, config, tags) in enumerate(plan, start=1):
        if (name, config, tags) not in pending:
            continue
        if stop is not None and stop():
            say(f"Stopped. {CONTINUE}")
            break
        claim = claim_file(folder, name)
        holder = claim_run(claim, claim_timeout)
        if holder:
            elsewhere.append(name)
            say(f"[{number}/{len(plan)}] {name}: another worker trains it ({holder}); skipped")
            continue
        try:
            if is_finished(folder / name, config):
                continue  # another worker finished it between our first look and our claim
            events = _with_heartbeat(callbacks, claim)
            run = train_run(config, folder, name, save_models, events, tags, stop, overwrite=True, trackers=trackers)
        except RunStopped:
            say(f"[{number}/{len(plan)}] {name}: stopped. {CONTINUE}")
            break
        except Exception as error:  # recorded as failed by train_run; the other points still answer the question
            say(f"[{number}/{len(plan)}] {name}: failed ({type(error).__name__}: {error})")
            run = load_run(folder / name)
        else:
            if run.status == STOPPED:  # the dashboard's Stop (or an interrupt) ended it early, keeping its files
                say(f"[{number}/{len(plan)}] {name}: stopped at step {run.history.stopped_at}. {CONTINUE}")
            else:
                say(f"[{number}/{len(plan)}] {name}: {_summary(run)}")
        finally:
            release_lock(claim)
        if on_run_end is not None:
            on_run_end(run)
        if run.status == STOPPED:  # the learner who stopped this run stopped the sweep
            break
    if elsewhere:
        say(f"{len(elsewhere)} run(s) were training in other workers: run the same sweep again to see them finished.")
    return compare([load_run(folder / name) for name, _, _ in plan if (folder / name / RUN_FILE).is_file()])


def _summary(run: Run) -> str:
    report = next(iter(run.reports.get(s) for s in ("test", "dev") if s in run.reports), None) or {}
    metric = next((m for m in ("top_5_accuracy", "average_rank", "loss") if m in report), None)
    said = f", {metric} {report[metric]:.3f}" if metric else ""
    return f"{len(run.history.steps)} steps in {run.seconds:.1f} s{said}"
