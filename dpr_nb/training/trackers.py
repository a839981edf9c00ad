"""The experiment trackers people already use, fed by the trainer's events: TensorBoard, MLflow, Weights & Biases and
trackio. The run store (dpr_nb.training.runs) stays the record; a tracker is a view of the same numbers in the tool
a team already looks at. Each is an optional extra, imported only when asked for.

    tracker = MLflowTracker(experiment="batch-size")              # or WandbTracker(project=...), TrackioTracker(...)
    retriever.train(config=config, callbacks=tracker.callbacks())
    tracker.close()

    train_run(config, "runs/sweep", trackers=["mlflow", "wandb"])  # a recorded run, named as its folder
    run_sweep("runs/sweep", base, space, trackers=["mlflow"])      # every run of a sweep

Every tracker logs the same names: each step's `train/loss`, `train/learning_rate` and negatives per question at its
optimizer step, and each evaluation's numbers under its split (`dev/loss`, `test/top_5_accuracy`), at the step whose
weights it evaluated; the run's TrainConfig goes in as the run's parameters (MLflow) or config (W&B, trackio).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..core.config import TrainConfig
from ..core.errors import MissingDependencyError, SettingsError
from .trainer import NEGATIVES

TRACKERS = ("tensorboard", "mlflow", "wandb", "trackio")


def step_values(record: Mapping) -> dict[str, float]:
    """A step record's numbers as every tracker names them."""
    return {f"train/{name}": float(record[name]) for name in ("loss", "learning_rate", *NEGATIVES) if name in record}


def evaluation_values(record: Mapping) -> dict[str, float]:
    """An evaluation record's numbers, under its split's name."""
    return {
        f"{record['split']}/{name}": float(value)
        for name, value in record.items()
        if name not in ("step", "split") and isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def _needs(package: str, extra: str):
    return MissingDependencyError(f'Logging to {extra} needs the {package} package: pip install "dpr-nb[{extra}]"')


class Tracker:
    """Trainer callbacks that send each step's and each evaluation's numbers to `log(values, step)`."""

    def callbacks(self) -> dict[str, Callable]:
        return {"on_step_end": self.on_step_end, "on_evaluate": self.on_evaluate, "on_train_end": self.on_train_end}

    def on_step_end(self, trainer, record: dict) -> None:
        self.log(step_values(record), record["step"])

    def on_evaluate(self, trainer, record: dict) -> None:
        self.log(evaluation_values(record), record["step"])

    def on_train_end(self, trainer, history) -> None:
        pass

    def log(self, values: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class TensorBoardLogger(Tracker):
    """TensorBoard's event files under `log_dir` (`tensorboard --logdir runs` shows them). The `tensorboard` extra."""

    def __init__(self, log_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise _needs("tensorboard", "tensorboard") from None
        self.writer = SummaryWriter(str(log_dir))

    def log(self, values: dict[str, float], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def on_evaluate(self, trainer, record: dict) -> None:
        super().on_evaluate(trainer, record)
        self.writer.flush()

    def on_train_end(self, trainer, history) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MLflowTracker(Tracker):
    """An MLflow run in `experiment`, its parameters the TrainConfig's fields. `tracking_uri`: None for MLflow's own
    choice (MLFLOW_TRACKING_URI, else a local store), a server's address, or `file:/path/mlruns`. The `mlflow` extra
    (mlflow-skinny is enough)."""

    def __init__(
        self,
        experiment: str = "dpr_nb",
        run_name: str | None = None,
        config: TrainConfig | None = None,
        tracking_uri: str | None = None,
    ):
        try:
            import mlflow
        except ImportError:
            raise _needs("mlflow", "mlflow") from None
        self.mlflow = mlflow
        if tracking_uri is not None:
            mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment)
        self.run = mlflow.start_run(run_name=run_name)
        if config is not None:
            mlflow.log_params({k: "None" if v is None else v for k, v in config.to_dict().items()})

    def log(self, values: dict[str, float], step: int) -> None:
        # MLflow's metric names may not hold every character; ours are words, digits, "_" and "/".
        self.mlflow.log_metrics(values, step=step, run_id=self.run.info.run_id)

    def close(self) -> None:
        self.mlflow.end_run()


class WandbTracker(Tracker):
    """A Weights & Biases run in `project`, its config the TrainConfig. `mode="offline"` (or WANDB_MODE=offline)
    writes it under `dir` to sync later with `wandb sync`. The `wandb` extra."""

    def __init__(
        self,
        project: str = "dpr_nb",
        run_name: str | None = None,
        config: TrainConfig | None = None,
        dir: str | Path | None = None,
        mode: str | None = None,
    ):
        try:
            import wandb
        except ImportError:
            raise _needs("wandb", "wandb") from None
        settings = {"project": project, "name": run_name, "mode": mode, "reinit": "finish_previous"}
        if dir is not None:
            Path(dir).mkdir(parents=True, exist_ok=True)
            settings["dir"] = str(dir)
        self.run = wandb.init(config=config.to_dict() if config is not None else None, **settings)

    def log(self, values: dict[str, float], step: int) -> None:
        # W&B's step only grows: a final evaluation of earlier weights (selection_metric) is logged at the last step.
        self.run.log(values, step=max(step, getattr(self.run, "step", 0) or 0))

    def close(self) -> None:
        self.run.finish()


class TrackioTracker(Tracker):
    """A trackio run (Hugging Face's local-first tracker) in `project`. Where trackio is installed."""

    def __init__(self, project: str = "dpr_nb", run_name: str | None = None, config: TrainConfig | None = None):
        try:
            import trackio
        except ImportError:
            raise _needs("trackio", "trackio") from None
        self.trackio = trackio
        self.run = trackio.init(project=project, name=run_name, config=config.to_dict() if config else None)

    def log(self, values: dict[str, float], step: int) -> None:
        self.trackio.log(values, step=step)

    def close(self) -> None:
        self.trackio.finish()


def make_trackers(
    names: Sequence[str | Tracker], folder: Path, project: str, run_name: str, config: TrainConfig
) -> list[Tracker]:
    """The trackers of a recorded run: each name ("tensorboard", "mlflow", "wandb", "trackio") made for the run in
    `folder` (TensorBoard's files and W&B's offline files go there), named `run_name` in `project` (the folder of
    its runs); a Tracker given is used as it is."""
    trackers = []
    try:
        for name in names:
            if isinstance(name, Tracker):
                trackers.append(name)
            elif name == "tensorboard":
                trackers.append(TensorBoardLogger(folder / "tensorboard"))
            elif name == "mlflow":
                trackers.append(MLflowTracker(project, run_name, config))
            elif name == "wandb":
                trackers.append(WandbTracker(project, run_name, config, dir=folder))
            elif name == "trackio":
                trackers.append(TrackioTracker(project, run_name, config))
            else:
                raise SettingsError(f"trackers: {name!r} is not one of {TRACKERS} (or give a Tracker).")
    except BaseException:
        for tracker in trackers:
            tracker.close()
        raise
    return trackers
