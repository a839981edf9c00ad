"""The run store: what a run leaves on disk, read back; interrupted runs recognised; the comparison table."""

import json
import math
import os
import socket
import subprocess
import sys

import pandas as pd
import pytest
import torch

from dpr_nb import TrainConfig
from dpr_nb.core.errors import SettingsError
from dpr_nb.data.splits import load_training_data
from dpr_nb.model.encoders import BiEncoder, Encoder
from dpr_nb.training.runs import (
    INTERRUPTED,
    RUNNING,
    Run,
    RunStopped,
    compare,
    config_diff,
    load_run,
    load_runs,
    summarize,
    train_run,
)
from dpr_nb.training.trainer import History, Trainer

SMALL = TrainConfig.preset(
    "smoke", max_samples=16, batch_size=8, n_epochs=1, num_warmup_steps=0, save_dir=None, device="cpu"
)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One small run, recorded with its model."""
    runs_dir = tmp_path_factory.mktemp("runs")
    return train_run(SMALL, runs_dir, name="small", save_model=True, tags={"note": "first"}), runs_dir


def test_a_run_is_recorded_and_read_back(recorded):
    run, runs_dir = recorded
    assert run.status == "finished" and run.name == "small" and run.folder == runs_dir / "small"
    assert run.config == SMALL == TrainConfig.load(runs_dir / "small" / "train_config.json")
    assert run.seed == SMALL.seed and run.tags == {"note": "first"}
    # 16 questions in batches of 8: two steps, each recorded with its loss and negatives
    assert [s["step"] for s in run.history.steps] == [1, 2]
    assert all(s["negatives"] == s["in_batch_negatives"] + s["hard_negatives"] for s in run.history.steps)
    # the final evaluation of each split, and how many questions it had (the built-in data: 100 dev, 100 test)
    splits = load_training_data(SMALL)
    assert run.reports["dev"]["questions"] == len(splits["dev"]) and run.reports["test"]["questions"] == 100
    dev_evaluations = [e for e in run.history.evaluations if e["split"] == "dev"]
    assert {k: v for k, v in run.reports["dev"].items() if k != "questions"} == dev_evaluations[-1]
    assert run.info["device"] == "cpu" and run.seconds > 0 and run.info["peak_memory_mb"] > 0
    assert run.info["versions"]["torch"] == torch.__version__
    assert load_runs(runs_dir) == [run]


def test_the_saved_model_gives_the_trained_vectors(recorded):
    run, _ = recorded
    # The same run by hand, with the trainer: the same seed gives the same steps and weights on a CPU.
    splits = load_training_data(SMALL)
    model = BiEncoder.from_pretrained(SMALL.query_model, SMALL.passage_model)
    history = Trainer(model, SMALL, splits["train"], splits["dev"], progress_bar=False).train()
    assert [s["loss"] for s in history.steps] == [s["loss"] for s in run.history.steps]
    saved = Encoder.from_pretrained(run.folder / "model" / "query_encoder").eval()
    tokens = saved.tokenizer(["which town has a harbour", "who founded it"], return_tensors="pt", padding=True)
    with torch.no_grad():
        torch.testing.assert_close(saved(**tokens), model.query_encoder.eval()(**tokens))


def test_each_questions_result_is_recorded_and_their_means_are_the_reported_metrics(tmp_path):
    run = train_run(SMALL.replace(eval_corpus="builtin"), tmp_path, name="per_question")
    splits = load_training_data(SMALL)
    for split in ("dev", "test"):
        table = run.question_results(split)
        assert list(table.index) == [example.question for example in splits[split]]
        for metric in ("average_rank", "top_1_accuracy", "top_5_accuracy", "mrr_at_20", "recall_at_20"):
            assert table[metric].mean() == pytest.approx(run.reports[split][metric]), (split, metric)
        assert set(table["top_5_accuracy"]) <= {0.0, 1.0}
        # A hit is the gold passage here (match="id"): found in the top 5 exactly when it ranks below 5.
        assert ((table["gold_rank"] < 5) == (table["top_5_accuracy"] == 1.0)).all()
    with pytest.raises(SettingsError, match="no per-question results of split 'train' \\(this run has: dev, test\\)"):
        run.question_results("train")


def test_a_finished_run_is_not_overwritten_by_accident(recorded):
    _, runs_dir = recorded
    with pytest.raises(ValueError, match="holds a finished run: pass another name, or overwrite=True"):
        train_run(SMALL, runs_dir, name="small")


def test_an_interrupted_run_is_recognised(tmp_path):
    # A run whose process died: run.json still says running, but its process is gone.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name, pid in (("dead", dead.pid), ("alive", None)):
        folder = tmp_path / name
        folder.mkdir()
        SMALL.save(folder / "train_config.json")
        info = {"name": name, "status": RUNNING, "pid": pid or os.getpid(), "host": socket.gethostname()}
        (folder / "run.json").write_text(json.dumps(info))
    assert load_run(tmp_path / "dead").status == INTERRUPTED
    assert load_run(tmp_path / "alive").status == RUNNING  # this process: still running
    assert [run.name for run in load_runs(tmp_path, status=INTERRUPTED)] == ["dead"]
    with pytest.raises(ValueError, match="is not a recorded run"):
        load_run(tmp_path)


def test_a_stopped_run_says_so_and_keeps_its_steps(tmp_path):
    with pytest.raises(RunStopped):
        train_run(SMALL.replace(max_samples=32), tmp_path, name="stopped", stop=lambda: True)
    run = load_run(tmp_path / "stopped")
    assert run.status == "stopped" and "RunStopped" in run.info["error"]
    assert len(run.history.steps) == 1  # asked after the first step


def test_a_run_the_dashboard_stops_is_recorded_stopped_with_the_files_of_the_steps_trained(tmp_path):
    """The dashboard's Stop at step 2 of 4: the run says "stopped" at step 2, and keeps what a finished run has (its
    model, each split's report and per-question results), of the weights of step 2."""
    from dpr_nb.notebook.widgets import TrainingDashboard

    dashboard = TrainingDashboard()
    callbacks = dashboard.callbacks()
    callbacks["on_step_end"] = [callbacks["on_step_end"], lambda t, record: record["step"] == 2 and dashboard.stop()]
    run = train_run(SMALL.replace(max_samples=32), tmp_path, name="stopped", save_model=True, callbacks=callbacks)
    assert run.status == "stopped" and run.history.stopped_at == 2 and len(run.history.steps) == 2
    assert run.reports["dev"]["step"] == 2 and run.reports["test"]["questions"] == 100
    assert len(run.question_results("test")) == 100 and "average_rank" in run.question_results("test").columns
    assert (run.folder / "model").is_dir()
    assert dashboard.status.value.startswith("stopped at step 2 of 4")
    assert dashboard.progress.bar_style == "warning" and dashboard.stop_button.disabled


def fake_run(name, config, top_5, questions=100, negatives=7.0, seconds=2.0):
    history = History(steps=[{"step": 1, "loss": 1.0, "learning_rate": 1e-3, "negatives": negatives}])
    reports = {"test": {"top_5_accuracy": top_5, "loss": 1.5, "questions": questions}}
    return Run(None, name, "finished", config, history, reports, {"seconds": seconds})


RUNS = [
    fake_run("a", TrainConfig(batch_size=4, seed=0), 0.30, negatives=7.0),
    fake_run("b", TrainConfig(batch_size=4, seed=1), 0.34, negatives=7.0),
    fake_run("c", TrainConfig(batch_size=16, seed=0), 0.41, negatives=31.0),
    fake_run("d", TrainConfig(batch_size=16, seed=1), 0.45, negatives=31.0),
]


def test_config_diff_names_only_what_differs():
    assert config_diff([run.config for run in RUNS]) == ["batch_size", "seed"]
    assert config_diff([TrainConfig(), TrainConfig()]) == []


def test_comparison_table_filter_sort_and_csv(tmp_path):
    table = compare(RUNS, csv=tmp_path / "runs.csv")
    assert list(table.columns[:3]) == ["batch_size", "seed", "status"]  # settings that differ, not all 40 fields
    assert "learning_rate" not in table.columns
    assert table.loc["c", "top_5_accuracy"] == 0.41 and table.loc["c", "negatives"] == 31.0
    assert table.attrs["split"] == "test" and list(table["questions"]) == [100] * 4
    best = compare(RUNS, where={"batch_size": 16}, sort_by="top_5_accuracy")
    assert list(best.index) == ["d", "c"]
    assert list(compare(RUNS, where={"top_5_accuracy": lambda v: v > 0.32}).index) == ["b", "c", "d"]
    written = pd.read_csv(tmp_path / "runs.csv", index_col="run")
    pd.testing.assert_frame_equal(written, table, check_dtype=False)
    with pytest.raises(ValueError, match="where: 'batchsize' is not a column"):
        compare(RUNS, where={"batchsize": 4})


def test_summary_is_mean_and_std_over_seeds_with_one_questions_worth():
    summary = summarize(compare(RUNS), "batch_size", "top_5_accuracy")
    assert summary.loc[4, "mean"] == pytest.approx(0.32) and summary.loc[16, "mean"] == pytest.approx(0.43)
    assert summary.loc[16, "std"] == pytest.approx(math.sqrt(((0.41 - 0.43) ** 2 + (0.45 - 0.43) ** 2) / 1))
    assert summary.loc[4, "runs"] == 2 and summary.loc[4, "one question"] == pytest.approx(0.01)
    assert summary.loc[16, "top_5_accuracy"] == "0.430 ± 0.028"
    with pytest.raises(ValueError, match=r"\['bs'\] are not columns"):
        summarize(compare(RUNS), "bs", "top_5_accuracy")


def test_a_recorded_model_loads_with_the_settings_it_was_trained_with(tmp_path):
    """train_run(save_model=True) wrote the encoders alone (BiEncoder.save): loading gave lengths 64/256, titles,
    dot product and two encoders whatever the run used. It now writes the one saved-model folder."""
    from dpr_nb import DensePassageRetriever
    from dpr_nb.data.builtin_data import EXAMPLE_QUESTIONS

    config = SMALL.replace(
        max_seq_len_query=24, max_seq_len_passage=40, embed_title=False, similarity_function="cosine"
    )
    config = config.replace(share_encoders=True)
    run = train_run(config, tmp_path, name="settings", save_model=True)
    loaded = DensePassageRetriever.load(run.folder / "model", use_gpu=False, progress_bar=False)
    assert (loaded.max_seq_len_query, loaded.max_seq_len_passage) == (24, 40)
    assert (loaded.embed_title, loaded.similarity_function) == (False, "cosine")
    assert loaded.model.shares_encoders
    # the config it trained with, recording where its model went (as every saved model's does)
    assert loaded.train_config == config.replace(save_dir=str(run.folder / "model"))
    assert len(loaded.history.steps) == len(run.history.steps)
    assert (run.folder / "model" / "README.md").is_file()  # the model card, as every saved model has
    reference = DensePassageRetriever.load(run.folder / "model", use_gpu=False, max_seq_len_query=64)
    assert reference.max_seq_len_query == 64  # an argument still overrides what was saved
    assert loaded.embed_queries(EXAMPLE_QUESTIONS[:2]).shape == (2, 64)


def test_a_model_the_run_store_saved_before_0_3_loads_with_its_runs_settings(tmp_path):
    """Before, train_run(save_model=True) wrote the encoders alone; the run's train_config.json sits beside model/."""
    from dpr_nb import DensePassageRetriever

    config = SMALL.replace(max_seq_len_query=24, max_seq_len_passage=40, embed_title=False)
    run = train_run(config, tmp_path, name="old", save_model=True)
    for name in ("retriever_config.json", "train_config.json"):  # what BiEncoder.save did not write
        (run.folder / "model" / name).unlink()
    loaded = DensePassageRetriever.load(run.folder / "model", use_gpu=False, progress_bar=False)
    assert (loaded.max_seq_len_query, loaded.max_seq_len_passage, loaded.embed_title) == (24, 40, False)
