"""dpr_nb.training.trackers: each tracker, offline, holds what the run store's history holds (TensorBoard's event
files, MLflow's local file store, W&B's offline run, trackio's local store where installed)."""

import json
import sys

import pytest

from dpr_nb import TrainConfig
from dpr_nb.core.errors import MissingDependencyError, SettingsError
from dpr_nb.training.runs import train_run
from dpr_nb.training.trackers import MLflowTracker, evaluation_values, make_trackers, step_values

SMALL = TrainConfig.preset(
    "smoke", max_samples=16, batch_size=8, n_epochs=2, num_warmup_steps=0, save_dir=None, device="cpu"
)


def test_every_tracker_names_the_numbers_alike():
    record = {"step": 3, "loss": 1.5, "learning_rate": 1e-3, "negatives": 7.0, "epoch": 0}
    assert step_values(record) == {"train/loss": 1.5, "train/learning_rate": 1e-3, "train/negatives": 7.0}
    evaluation = {"step": 3, "split": "dev", "loss": 0.9, "top_5_accuracy": 0.5, "num_questions": 100, "ok": True}
    assert evaluation_values(evaluation) == {"dev/loss": 0.9, "dev/top_5_accuracy": 0.5, "dev/num_questions": 100.0}


def test_tensorboard_logs_what_the_history_holds(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train_run(SMALL, tmp_path, name="logged", tensorboard=True)
    events = EventAccumulator(str(run.folder / "tensorboard"))
    events.Reload()
    logged = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert logged == [(s["step"], pytest.approx(s["loss"])) for s in run.history.steps]
    negatives = [e.value for e in events.Scalars("train/negatives")]
    assert negatives == [pytest.approx(s["negatives"]) for s in run.history.steps]
    assert events.Scalars("test/loss")[-1].value == pytest.approx(run.reports["test"]["loss"])


def test_mlflow_holds_the_runs_steps_evaluations_and_settings(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    store = f"file:{tmp_path / 'mlruns'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for a database; mlflow-skinny has none
    run = train_run(SMALL, tmp_path / "sweep", name="batch_size=8,seed=0", trackers=["mlflow"])
    client = MlflowClient(store)
    (experiment,) = [e for e in client.search_experiments() if e.name == "sweep"]  # the runs' folder
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.info.run_name == "batch_size=8,seed=0" and logged.info.status == "FINISHED"
    losses = client.get_metric_history(logged.info.run_id, "train/loss")
    assert [(m.step, m.value) for m in losses] == [(s["step"], pytest.approx(s["loss"])) for s in run.history.steps]
    assert logged.data.metrics["test/average_rank"] == pytest.approx(run.reports["test"]["average_rank"])
    assert logged.data.params["batch_size"] == "8" and logged.data.params["dev_filename"] == "None"
    assert mlflow.active_run() is None  # ended with the run


def wandb_records(path):
    """The records of a W&B offline run file (run-ID.wandb): LevelDB's log format, a ":W&B" header, 32 KB blocks of
    records each cut into pieces (full, first, middle, last), every record one of W&B's protobuf Records."""
    import struct

    from wandb.proto import wandb_internal_pb2

    raw, position, pending, block = path.read_bytes(), 7, b"", 32768
    assert raw[:4] == b":W&B"
    while position + 7 <= len(raw):
        if block - position % block < 7:  # a block's last bytes too few for a piece's header: padding
            position += block - position % block
            continue
        _, length, kind = struct.unpack("<IHB", raw[position : position + 7])
        data, position = raw[position + 7 : position + 7 + length], position + 7 + length
        pending = data if kind in (1, 2) else pending + data
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record
        if kind == 0:
            return


def test_wandb_offline_holds_the_runs_steps_evaluations_and_settings(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = train_run(SMALL, tmp_path / "sweep", name="seed=0", trackers=["wandb"])
    (offline,) = (run.folder / "wandb").glob("offline-run-*/run-*.wandb")  # in the run's folder, for `wandb sync`
    records = list(wandb_records(offline))
    logged = [
        {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
        for record in records
        if record.WhichOneof("record_type") == "history"
    ]
    losses = [(values["_step"], values["train/loss"]) for values in logged if "train/loss" in values]
    assert losses == [(s["step"], pytest.approx(s["loss"])) for s in run.history.steps]
    tested = [values["test/average_rank"] for values in logged if "test/average_rank" in values]
    assert tested == [pytest.approx(run.reports["test"]["average_rank"])]
    (started,) = [record.run for record in records if record.WhichOneof("record_type") == "run"]
    config = {item.key: json.loads(item.value_json) for item in started.config.update}
    assert started.display_name == "seed=0" and started.project == "sweep"
    assert config["batch_size"] == 8 and config["learning_rate"] == SMALL.learning_rate


def test_trackio_where_installed(tmp_path, monkeypatch):
    pytest.importorskip("trackio")
    monkeypatch.setenv("TRACKIO_DIR", str(tmp_path / "trackio"))
    run = train_run(SMALL, tmp_path / "sweep", name="seed=0", trackers=["trackio"])
    assert run.status == "finished"


def test_an_unknown_tracker_or_a_missing_package_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(SettingsError, match=r"'neptune' is not one of \('tensorboard', 'mlflow', 'wandb', 'trackio'\)"):
        make_trackers(["neptune"], tmp_path, "sweep", "run", SMALL)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as where mlflow is not installed
    with pytest.raises(MissingDependencyError, match=r'pip install "dpr-nb\[mlflow\]"'):
        MLflowTracker()
