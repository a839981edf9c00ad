"""The widgets as plain Python objects: no browser, values set on the controls as a learner's clicks would."""

import dataclasses
import time
import types

import matplotlib
import pytest
from matplotlib.figure import Figure

import dpr_nb.notebook.widgets as dpr_widgets
from dpr_nb import PRESETS, TrainConfig
from dpr_nb.data.splits import load_splits
from dpr_nb.model.encoders import BiEncoder, tiny_encoder
from dpr_nb.notebook.widgets import CUSTOM, DEFAULT_FIELDS, ConfigPanel, TrainingDashboard
from dpr_nb.training.trainer import EVENTS, History, Trainer

matplotlib.use("Agg")  # no display: the dashboard renders its curves to PNG
ipywidgets = pytest.importorskip("ipywidgets")


def tooltip(widget) -> str:
    return widget.tooltip if widget.has_trait("tooltip") else widget.description_tooltip


# --- ConfigPanel -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_panel_of_a_preset_gives_back_that_preset(name):
    preset = TrainConfig.preset(name)
    panel = ConfigPanel(preset)
    assert list(panel.controls) == list(DEFAULT_FIELDS)
    assert {field: getattr(panel.config, field) for field in DEFAULT_FIELDS} == {
        field: getattr(preset, field) for field in DEFAULT_FIELDS
    }
    assert panel.config == preset  # every field, shown or not
    assert panel.preset.value == name
    assert panel.error.value == ""


def test_controls_are_built_from_the_field_types_and_labelled():
    panel = ConfigPanel(TrainConfig.preset("smoke"))
    c = panel.controls
    assert isinstance(c["batch_size"], ipywidgets.IntText)
    # learning_rate is optional (None: the checkpoint's recipe); the smoke preset sets one, so it is ticked
    assert isinstance(c["learning_rate"].number, ipywidgets.FloatText) and c["learning_rate"].value == 5e-4
    assert isinstance(c["query_model"], ipywidgets.Text)
    assert isinstance(c["precision"], ipywidgets.Dropdown)
    assert [value for _, value in c["precision"].options] == ["auto", "fp32", "bf16", "fp16"]
    # Optional fields: a Dropdown entry for None, or a number with a checkbox
    assert c["similarity_function"].label == "checkpoint's default"
    assert isinstance(c["grad_cache_chunk_size"], dpr_widgets.OptionalNumber)
    assert c["grad_cache_chunk_size"].value is None and c["grad_cache_chunk_size"].number.disabled
    for name, control in c.items():
        labelled = control.number if isinstance(control, dpr_widgets.OptionalNumber) else control
        assert labelled.description == name
        assert tooltip(labelled) == TrainConfig.help(name)
    other = ConfigPanel(fields=["embed_title", "dev_split", "device", "eval_corpus"]).controls
    assert [type(w) for w in other.values()] == [
        ipywidgets.Checkbox,
        ipywidgets.FloatText,
        ipywidgets.Text,
        ipywidgets.Text,
    ]
    with pytest.raises(ValueError, match="not TrainConfig fields"):
        ConfigPanel(fields=["batch_size", "batchsize"])
    # An optional yes/no (share_encoders): a Dropdown of None, True and False, None labelled by what it means
    sharing = ConfigPanel(fields=["share_encoders"])
    assert [value for _, value in sharing.controls["share_encoders"].options] == [dpr_widgets._DEFAULT, True, False]
    assert sharing.controls["share_encoders"].label == "as the model is built"
    sharing.controls["share_encoders"].value = False
    assert sharing.config.share_encoders is False


def test_changed_controls_give_exactly_those_changes():
    start = TrainConfig.preset("smoke", temperature=0.05, dev_split=0.1)  # dev_split is not shown: it is kept
    panel = ConfigPanel(start)
    c = panel.controls
    c["batch_size"].value = 128
    c["grad_cache_chunk_size"].value = 16
    c["similarity_function"].value = "cosine"
    c["temperature"].value = None
    c["learning_rate"].value = 2e-5
    c["precision"].value = "bf16"
    c["save_dir"].value = ""  # an empty optional text box is None: save nothing
    c["data_dir"].value = "data/nq"
    assert panel.config == start.replace(
        batch_size=128,
        grad_cache_chunk_size=16,
        similarity_function="cosine",
        temperature=None,
        learning_rate=2e-5,
        precision="bf16",
        save_dir=None,
        data_dir="data/nq",
    )
    assert panel.preset.value == CUSTOM
    assert panel.error.value == ""
    # The optional control's parts follow its value, and a click on its checkbox sets it
    chunk = c["grad_cache_chunk_size"]
    assert chunk.enabled.value and chunk.number.value == 16 and not chunk.number.disabled
    chunk.enabled.value = False
    assert panel.config.grad_cache_chunk_size is None and chunk.number.disabled
    c["max_samples"].enabled.value = True
    assert panel.config.max_samples == dpr_widgets._PLACEHOLDERS["max_samples"]
    c["max_samples"].number.value = 50
    assert panel.config.max_samples == 50
    c["similarity_function"].value = dpr_widgets._DEFAULT
    assert panel.config.similarity_function is None


def test_preset_menu_sets_the_recipe_and_keeps_the_data_and_output_fields():
    start = TrainConfig.preset("smoke", save_dir="runs/mine", max_samples=50)
    panel = ConfigPanel(start)
    panel.controls["batch_size"].value = 3
    panel.controls["temperature"].value = 0.1
    panel.preset.value = "finetune"
    # the recipe's models and training settings; the built-in data and this save_dir stay (NQ's files are not here)
    kept = {name: getattr(start, name) for name in dpr_widgets.KEPT_BY_PRESETS}
    assert panel.config == TrainConfig.preset("finetune", **kept)
    assert panel.config.data_dir == "builtin" and panel.config.train_filename == "train.json"
    assert panel.config.dev_filename is None and panel.config.checkpoint_dir is None
    assert panel.controls["save_dir"].value == "runs/mine" and panel.controls["max_samples"].value == 50
    assert panel.controls["query_model"].value == "facebook/dpr-question_encoder-single-nq-base"
    assert panel.controls["temperature"].value is None and panel.controls["batch_size"].value == 16
    assert panel.preset.value == "finetune"  # the menu names the recipe, whatever the data
    panel.controls["n_epochs"].value = 2
    assert panel.preset.value == CUSTOM
    panel.controls["data_dir"].value = "data/nq"  # a data change is kept by the next choice too
    panel.preset.value = "smoke"
    assert panel.config == TrainConfig.preset("smoke", **{**kept, "data_dir": "data/nq"})
    panel.preset.value = CUSTOM  # choosing "custom" changes nothing
    assert panel.config == TrainConfig.preset("smoke", **{**kept, "data_dir": "data/nq"})


def test_invalid_values_show_the_message_and_config_raises():
    panel = ConfigPanel(TrainConfig.preset("smoke"))
    panel.controls["batch_size"].value = 0  # no exception from the observer
    with pytest.raises(ValueError, match="batch_size=0 must be at least 1") as raised:
        _ = panel.config
    assert "batch_size=0 must be at least 1" in panel.error.value
    assert str(raised.value).replace("'", "&#x27;") in panel.error.value
    panel.controls["batch_size"].value = 16
    assert panel.error.value == "" and panel.config == TrainConfig.preset("smoke")


def test_set_config_updates_the_controls():
    panel = ConfigPanel()
    assert panel.config == TrainConfig() and panel.preset.value == CUSTOM
    target = TrainConfig.preset("finetune", batch_size=4, grad_cache_chunk_size=2, similarity_function="dot_product")
    panel.set_config(target)
    assert panel.config == target
    assert panel.controls["batch_size"].value == 4 and panel.controls["similarity_function"].value == "dot_product"
    assert panel.preset.value == CUSTOM
    panel.set_config(TrainConfig.preset("from_scratch"))
    assert panel.preset.value == "from_scratch"


def test_panel_and_dashboard_display_their_widget(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    panel, dashboard = ConfigPanel(), TrainingDashboard()
    panel._ipython_display_()
    dashboard._ipython_display_()
    assert shown == [panel.widget, dashboard.widget]
    assert isinstance(panel.widget, ipywidgets.VBox)


# --- TrainingDashboard --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run():
    """4 optimizer steps on 32 questions, dev evaluated at step 2 and at the end, with a dashboard attached."""
    examples = load_splits("builtin", "")
    config = TrainConfig.preset("smoke", n_epochs=1, batch_size=8, evaluate_every=2, save_dir=None)
    trainer = Trainer(
        BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)),
        config,
        examples["train"][:32],
        examples["dev"][:16],
        progress_bar=False,
    )
    dashboard = TrainingDashboard(refresh_every=1)  # a redraw every step: the plot must replace, not append
    assert dashboard.attach(trainer) is trainer
    history = trainer.train()
    return trainer, dashboard, history


def test_dashboard_records_every_event(run):
    trainer, dashboard, history = run
    assert dashboard.history == history == trainer.history
    assert len(history.steps) == 4 and [e["step"] for e in history.evaluations] == [2, 4]
    assert dashboard.events == {"on_train_start": 1, "on_step_end": 4, "on_evaluate": 2, "on_train_end": 1}


def test_dashboard_shows_each_steps_negatives():
    dashboard = TrainingDashboard()
    dashboard.on_train_start(types.SimpleNamespace(history=None, total_steps=2, step=0))
    record = {"step": 1, "loss": 2.0, "learning_rate": 1e-4}
    counts = {"negatives": 7.0, "in_batch_negatives": 6.0, "hard_negatives": 1.0, "negatives_from_other_processes": 0}
    dashboard.on_step_end(None, {**record, **counts})
    assert "7 negatives per question (6 in-batch, 1 hard)" in dashboard.status.value
    dashboard.on_step_end(None, {**record, **counts, "negatives": 15.0, "negatives_from_other_processes": 8.0})
    assert "15 negatives per question (6 in-batch, 1 hard, 8 from other GPUs)" in dashboard.status.value


def test_dashboard_shows_questions_per_second_from_the_batch_and_the_time(monkeypatch):
    import dpr_nb.notebook.widgets as module

    trainer = types.SimpleNamespace(
        history=None, total_steps=4, step=0, config=TrainConfig(batch_size=16, grad_acc_steps=2), device=None
    )
    dashboard = TrainingDashboard()
    clock = iter([100.0, 110.0])  # training starts at 100 s; 2 steps of 16 x 2 accumulated questions by 110 s
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    dashboard.on_train_start(trainer)
    dashboard.on_step_end(trainer, {"step": 2, "loss": 2.0, "learning_rate": 1e-4})
    assert "6.4 questions/s" in dashboard.status.value and "GPU" not in dashboard.status.value  # 64 in 10 s


def test_dashboard_progress_metrics_and_plot(run):
    _, dashboard, history = run
    assert dashboard.progress.max == 4 and dashboard.progress.value == dashboard.progress.max
    assert dashboard.status.value.startswith("done: 4 steps")
    last = history.evaluations[-1]
    for name in ("loss", "acc", "f1", "average_rank"):
        assert f"<td>{name}</td><td>{last[name]:.4g}</td>" in dashboard.metrics.value
    assert "dev (step 4)" in dashboard.metrics.value
    assert len(dashboard.plot.outputs) == 1  # 4 steps, 2 evaluations and the end drawn, each replacing the last
    assert "image/png" in dashboard.plot.outputs[0]["data"]


def test_callbacks_cover_every_event():
    dashboard = TrainingDashboard()
    callbacks = dashboard.callbacks()
    assert set(callbacks) == set(EVENTS) and all(callable(f) for f in callbacks.values())


def test_dashboard_redraws_every_refresh_every_steps_and_without_a_known_total(monkeypatch):
    drawn = []

    def fake_plot(history):
        drawn.append(len(history.steps))
        return Figure(figsize=(1, 1))

    monkeypatch.setattr(dpr_widgets, "plot_training", fake_plot)
    dashboard = TrainingDashboard(refresh_every=5)
    emitter = types.SimpleNamespace(history=History(), step=0)  # knows no total_steps
    dashboard.on_train_start(emitter)
    for step in range(1, 13):
        dashboard.on_step_end(emitter, {"step": step, "epoch": 0, "loss": 1.0 / step, "learning_rate": 1e-4})
        assert dashboard.progress.value == dashboard.progress.max == step  # no total: the bar follows the step
        assert f"step {step}/?" in dashboard.status.value and "left" not in dashboard.status.value
    assert drawn == [5, 10]
    dashboard.on_checkpoint(emitter, "checkpoints/step-12")
    assert "checkpoints/step-12" in dashboard.metrics.value
    dashboard.on_train_end(emitter, History(best={"step": 10, "metric": "loss", "value": 0.25}, stopped_early_at=12))
    assert drawn == [5, 10, 12]
    assert dashboard.history.best["step"] == 10 and dashboard.history.stopped_early_at == 12
    assert "stopped early at step 12" in dashboard.status.value


def test_dashboard_with_a_given_total_shows_time_left():
    dashboard = TrainingDashboard(total_steps=100, refresh_every=1000)
    emitter = types.SimpleNamespace(history=History(), step=0, total_steps=7)
    dashboard.on_train_start(emitter)
    assert dashboard.total_steps == 100  # the given total wins over the trainer's
    dashboard.on_step_end(emitter, {"step": 1, "epoch": 0, "loss": 2.0, "learning_rate": 1e-5})
    assert dashboard.progress.max == 100 and dashboard.progress.value == 1
    assert "step 1/100" in dashboard.status.value and "left" in dashboard.status.value
    assert dashboard.plot.outputs == ()  # refresh_every=1000: nothing drawn yet


def test_dashboard_continues_a_resumed_history():
    earlier = History(
        steps=[{"step": 1, "epoch": 0, "loss": 3.0, "learning_rate": 1e-5}],
        evaluations=[{"step": 1, "split": "dev", "loss": 2.5}],
    )
    emitter = types.SimpleNamespace(history=earlier, step=1, total_steps=3)
    dashboard = TrainingDashboard(refresh_every=100)
    dashboard.on_train_start(emitter)
    dashboard.on_step_end(emitter, {"step": 2, "epoch": 0, "loss": 2.0, "learning_rate": 1e-5})
    assert [s["step"] for s in dashboard.history.steps] == [1, 2] and len(dashboard.history.evaluations) == 1
    assert len(earlier.steps) == 1  # a copy: the trainer's history is the trainer's to extend
    assert dashboard.progress.value == 2 and "left" in dashboard.status.value  # time left from this run's steps


def test_dashboard_prints_without_ipywidgets(monkeypatch, capsys):
    monkeypatch.setattr(dpr_widgets, "widgets", None)
    dashboard = TrainingDashboard(refresh_every=2)
    assert dashboard.widget is None
    emitter = types.SimpleNamespace(history=History(), step=0, total_steps=4)
    dashboard.callbacks()["on_train_start"](emitter)
    for step in range(1, 5):
        dashboard.on_step_end(emitter, {"step": step, "epoch": 0, "loss": 1.0, "learning_rate": 1e-5})
    dashboard.on_evaluate(emitter, {"step": 4, "split": "dev", "loss": 0.5, "acc": 0.75})
    dashboard.on_train_end(emitter, History())
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" · ")[0] for line in lines[:2]] == ["step 2/4", "step 4/4"]
    assert lines[2] == "dev at step 4: loss=0.5 acc=0.75" and lines[3].startswith("done: 4 steps")
    assert len(dashboard.history.steps) == 4
    with pytest.raises(ImportError, match="ipywidgets"):
        ConfigPanel()


def test_history_records_are_copies(run):
    _, dashboard, history = run
    assert all(a is not b for a, b in zip(dashboard.history.steps, history.steps))
    assert dataclasses.asdict(dashboard.history) == dataclasses.asdict(history)


# --- SweepPanel ---------------------------------------------------------------------------------------------------


def test_sweep_panel_runs_a_sweep_and_shows_it_again_from_disk(tmp_path):
    from dpr_nb.notebook.widgets import SweepPanel
    from dpr_nb.training.runs import load_runs

    base = TrainConfig.preset(
        "smoke", max_samples=16, batch_size=8, n_epochs=1, num_warmup_steps=0, save_dir=None, device="cpu"
    )
    panel = SweepPanel(tmp_path, base, metric="loss", seeds="0, 1")
    assert "No runs yet" in panel.results.value
    panel.first.value, panel.first_values.value = "batch_size", "4, 8"
    assert panel.space() == {"batch_size": [4, 8]} and panel.seed_list() == [0, 1]
    panel.second.value, panel.second_values.value = "grad_cache_chunk_size", "None, 2"
    assert panel.space() == {"batch_size": [4, 8], "grad_cache_chunk_size": [None, 2]}
    panel.second.value = "(none)"
    panel.start(wait=True)
    assert sorted(run.name for run in load_runs(tmp_path)) == [
        "batch_size=4,seed=0",
        "batch_size=4,seed=1",
        "batch_size=8,seed=0",
        "batch_size=8,seed=1",
    ]
    assert list(panel.table.columns[:2]) == ["batch_size", "seed"] and len(panel.table) == 4
    assert "± " in panel.results.value and panel.chart.value[:4] == b"\x89PNG" and panel.curves.value
    # the cell run again: a new panel shows the same runs, read from disk
    again = SweepPanel(tmp_path, base, metric="loss")
    assert again.table.equals(panel.table) and again.chart.value[:4] == b"\x89PNG"


def test_sweep_panel_stop_and_bad_input(tmp_path):
    from dpr_nb.notebook.widgets import SweepPanel
    from dpr_nb.training.runs import load_runs

    base = TrainConfig.preset("smoke", max_samples=32, batch_size=8, n_epochs=1, save_dir=None, device="cpu")
    panel = SweepPanel(tmp_path, base, seeds="0")
    panel.first_values.value = "8, 16"
    panel._stop = True  # as if Stop were pressed before the first run: nothing trains
    panel.stop()
    panel._sweep({"batch_size": [8, 16]}, [0])
    assert load_runs(tmp_path) == [] and panel.status.value.startswith("Stopped")
    panel.seeds.value = "0, one"
    panel.start()
    assert panel.status.value == "seeds='0, one': give whole numbers, comma-separated, e.g. 0, 1, 2."
    panel.seeds.value, panel.first_values.value = "0", "8, sixteen"
    panel.start()
    assert "batch_size" in panel.status.value and "sixteen" in panel.status.value


def test_sweep_panel_estimates_chooses_metric_and_split_says_the_verdict_and_exports(tmp_path):
    from dpr_nb.notebook.widgets import SweepPanel
    from dpr_nb.training.effects import select_and_report
    from dpr_nb.training.runs import load_runs

    base = TrainConfig.preset(
        "smoke", max_samples=16, batch_size=8, n_epochs=1, num_warmup_steps=0, save_dir=None, device="cpu"
    )
    panel = SweepPanel(tmp_path, base, metric="average_rank", seeds="0, 1", background=True)
    panel.first.value, panel.first_values.value = "batch_size", "4, 8"
    cost = panel.estimate()
    assert len(cost) == 4 and panel.status.value.startswith("4 runs to train, about ")
    panel.start(wait=True)
    chosen = select_and_report(load_runs(tmp_path), "batch_size", "average_rank")
    assert f"Best batch_size on dev: {chosen['best']}; on test average_rank" in panel.verdict.value
    assert chosen["verdict"] in panel.verdict.value
    assert panel.table.attrs["split"] == "test"
    panel.split_choice.value = "dev"  # the table follows the split chosen
    assert panel.table.attrs["split"] == "dev"
    assert panel.estimate() is None and panel.status.value == "All 4 runs are finished: nothing to train."
    written = panel.export()
    assert written == str(tmp_path / "sweep.csv") and (tmp_path / "sweep.csv").read_text().startswith("run,")


def test_on_colab_the_sweep_panel_runs_in_the_foreground_where_its_updates_show(tmp_path, monkeypatch):
    """Colab shows no widget change made by a background thread (googlecolab/colabtools#3373): the panel trains in
    the cell's own thread there, and hides the Stop button a busy cell could not take."""
    import sys

    from dpr_nb.notebook.widgets import SweepPanel

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    base = TrainConfig.preset("smoke", max_samples=8, batch_size=8, n_epochs=1, save_dir=None, device="cpu")
    panel = SweepPanel(tmp_path, base, seeds="0")
    assert not panel.background and panel.stop_button.layout.display == "none"
    panel.first_values.value = "8"
    panel.start()  # returns when the sweep is done: no thread
    assert panel._thread is None and len(panel.table) == 1 and not panel.start_button.disabled


def test_config_panel_estimates_its_configuration_or_says_why_not(tmp_path):
    panel = ConfigPanel(TrainConfig.preset("smoke", max_samples=16, batch_size=8, n_epochs=1, device="cpu"))
    cost = panel.estimate()
    assert cost.loc["this configuration", "steps"] == 2
    assert panel.estimate_text.value.startswith("about ") and "for 2 steps" in panel.estimate_text.value
    panel.set_config(TrainConfig(data_dir=str(tmp_path), train_filename="missing.json"))
    assert panel.estimate() is None and "missing.json" in panel.estimate_text.value


KERNEL_CELL = """
import time
from dpr_nb import TrainConfig
from dpr_nb.notebook.widgets import TrainingDashboard
from dpr_nb.training.train import train_model

dashboard = TrainingDashboard()
display(dashboard)
callbacks, planned = dashboard.callbacks(), []
callbacks["on_train_start"] = [callbacks["on_train_start"], lambda t: planned.append(t.total_steps)]
slow = lambda t, r: (print("step", r["step"], flush=True), time.sleep(0.3))  # time for the interrupt to come
callbacks["on_step_end"] = [callbacks["on_step_end"], slow]
config = TrainConfig.preset("smoke", max_samples=400, batch_size=4, save_dir=None, device="cpu")
trained = train_model(config, callbacks=callbacks)
print("stopped_at", trained.history.stopped_at, "steps", len(trained.history.steps), "of", planned[0])
print("stop button", "on" if dashboard._poll else "greyed", flush=True)
"""


def test_in_a_jupyter_kernel_an_interrupt_ends_the_dashboards_training_keeping_the_model():
    """A real kernel (ipykernel), as a notebook runs it: interrupted while the cell trains, the cell still ends
    normally, with the model of the steps trained; the dashboard's Stop is greyed where the kernel takes no click
    while busy (ipykernel 7), live where it can (6 and older, through jupyter-ui-poll)."""
    import ipykernel
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        msg_id, lines, reply, interrupted = client.execute(KERNEL_CELL), [], None, False
        deadline = time.monotonic() + 120
        while reply is None and time.monotonic() < deadline:
            message = client.get_iopub_msg(timeout=120)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "stream":
                lines += message["content"]["text"].splitlines()
                if "step 2" in lines and not interrupted:  # once: a second interrupt stops at once
                    manager.interrupt_kernel()
                    interrupted = True
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                reply = client.get_shell_msg(timeout=30)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply is not None and reply["content"]["status"] == "ok", lines
    assert any(line.startswith("Stopping at the end of this step") for line in lines), lines
    last = next(line for line in lines if line.startswith("stopped_at")).split()
    assert last[1] == last[3] and 2 <= int(last[1]) < int(last[5])  # stopped at the last step trained, before the end
    expected = "on" if int(ipykernel.__version__.split(".")[0]) < 7 else "greyed"
    assert lines[-1] == f"stop button {expected}"
