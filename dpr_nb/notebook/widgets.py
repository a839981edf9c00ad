"""Notebook widgets: `ConfigPanel` edits a TrainConfig, `TrainingDashboard` shows a training run as it happens,
`SweepPanel` runs a sweep (dpr_nb.training.sweeps) and shows its runs as they finish.

    panel = ConfigPanel(TrainConfig.preset("smoke"))
    panel                                           # a cell ending here shows the controls
    dashboard = TrainingDashboard(refresh_every=20)
    dashboard                                       # the dashboard, empty until training starts
    retriever.train(config=panel.config, callbacks=dashboard.callbacks())

Both run on ipywidgets 7 (Google Colab ships 7.7.1) and 8 (JupyterLab): they use only controls the two share,
and a bare `panel` or `dashboard` shows itself through `_ipython_display_`, which both versions' IPython honour.
Without ipywidgets (a plain Python script), the dashboard prints a line every `refresh_every` steps instead.

    >>> ConfigPanel(TrainConfig.preset("smoke")).config == TrainConfig.preset("smoke")
    True
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import numbers
import time
import typing
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import pandas as pd

from ..core.config import PRESETS, TrainConfig, field_options
from ..core.errors import MissingDependencyError, SettingsError
from ..evaluation.plots import plot_heatmap, plot_runs, plot_setting, plot_training
from ..training.effects import select_and_report
from ..training.runs import DEFAULT_METRICS, compare, load_runs, summarize
from ..training.sweeps import estimate_cost, pending_runs, plan_sweep, run_sweep
from ..training.trainer import EVENTS, History

try:
    import ipywidgets as widgets
    import traitlets
except ImportError:  # the dashboard falls back to printing; the panel needs widgets
    widgets = traitlets = None

# The fields a learner changes most, in the panel's order; ConfigPanel(fields=...) shows any others.
DEFAULT_FIELDS = (
    "query_model",
    "passage_model",
    "data_dir",
    "train_filename",
    "max_samples",
    "max_seq_len_query",
    "max_seq_len_passage",
    "num_positives",
    "num_hard_negatives",
    "batch_size",
    "grad_acc_steps",
    "n_epochs",
    "max_steps",
    "learning_rate",
    "num_warmup_steps",
    "similarity_function",
    "temperature",
    "seed",
    "precision",
    "grad_cache_chunk_size",
    "evaluate_every",
    "save_dir",
)
# An Optional number is a number control with a checkbox; ticked means "use the number", with these words.
_TICK_LABELS = {
    "max_samples": "at most",
    "grad_cache_chunk_size": "gradient caching",
    "temperature": "fixed",
    "eval_batch_size": "own size",
    "dropout": "set",
    "num_warmup_steps": "fixed",
    "learning_rate": "fixed",
}
# The number an unticked control shows, and takes when ticked.
_PLACEHOLDERS = {
    "max_samples": 1000,
    "grad_cache_chunk_size": 16,
    "temperature": 0.05,
    "eval_batch_size": 64,
    "dropout": 0.1,
    "num_warmup_steps": 100,
    "learning_rate": 1e-5,
}
# None in a Dropdown of a Literal | None field. Not None itself: in ipywidgets 7 a Dropdown whose value is None
# has nothing selected.
_DEFAULT = "(default)"
_NONE_LABELS = {"similarity_function": "checkpoint's default", "share_encoders": "as the model is built"}
CUSTOM = "custom"  # the preset dropdown's value when the controls match no preset
# What a preset menu choice leaves as it is: where the data comes from and where results go are the learner's, not
# the recipe's (choosing "finetune" must not switch the built-in data to NQ files that are not there).
KEPT_BY_PRESETS = (
    "data_dir",
    "train_filename",
    "dev_filename",
    "test_filename",
    "max_samples",
    "dev_split",
    "records_on_disk",
    "eval_corpus",
    "save_dir",
    "checkpoint_dir",
    "device",
)
_STYLE = {"description_width": "190px"}  # one width, so the controls line up under each other


def _require_widgets():
    if widgets is None:
        raise MissingDependencyError("ConfigPanel needs ipywidgets: pip install ipywidgets")
    return widgets


def _set_tooltip(widget, text: str) -> None:
    # ipywidgets 8 calls it `tooltip` (and warns about the old name); 7 has only `description_tooltip`, and only
    # on controls with a description. Never on boxes: in ipywidgets 8 a Box with a tooltip fails to display
    # ("Click to show javascript error": its view reads the description it lacks, ipywidgets issue #3860).
    if not widget.has_trait("description"):
        return
    if widget.has_trait("tooltip"):
        widget.tooltip = text
    elif widget.has_trait("description_tooltip"):
        widget.description_tooltip = text


if widgets is not None:  # it subclasses an ipywidgets class

    class OptionalNumber(widgets.HBox):
        """A number control and a checkbox; unticked means None. `.value` is the field's value: a number or None."""

        value = traitlets.Any(None, allow_none=True)  # kept in Python only: the children are what the page shows

        def __init__(self, number, tick_label: str, placeholder, value):
            self.number = number
            self.enabled = widgets.Checkbox(
                value=value is not None, description=tick_label, indent=False, layout=widgets.Layout(width="auto")
            )
            super().__init__([number, self.enabled])
            self._syncing = False
            self.number.value = placeholder if value is None else value
            self.number.disabled = value is None
            self.value = value
            self.observe(self._show, names="value")
            self.number.observe(self._read, names="value")
            self.enabled.observe(self._read, names="value")

        def _show(self, change) -> None:
            if self._syncing:
                return
            self._syncing = True  # setting a child fires _read, which must not write back a half-updated value
            try:
                self.enabled.value = change.new is not None
                self.number.disabled = change.new is None
                if change.new is not None:
                    self.number.value = change.new
            finally:
                self._syncing = False

        def _read(self, change) -> None:
            if self._syncing:
                return
            self.number.disabled = not self.enabled.value
            self._syncing = True
            try:
                self.value = self.number.value if self.enabled.value else None
            finally:
                self._syncing = False


def _same(value):
    return value


@dataclasses.dataclass
class _Field:
    widget: object
    to_field: typing.Callable = _same  # the control's value -> the TrainConfig field's
    to_control: typing.Callable = _same  # and back


def _make_field(name: str, hint, value) -> _Field:
    """A control for field `name` chosen by its type, labelled with the name, with the description as tooltip."""
    options = field_options(hint)
    kinds, optional = tuple(o for o in options if o is not type(None)), type(None) in options
    kind = kinds[0] if len(kinds) == 1 else None
    common = dict(description=name, style=_STYLE)
    if typing.get_origin(kind) is Literal or (kind is bool and optional):  # share_encoders: True, False or None
        choices = [(str(choice), choice) for choice in (typing.get_args(kind) if kind is not bool else (True, False))]
        if optional:  # None is a choice of its own, e.g. similarity_function: "checkpoint's default"
            choices.insert(0, (_NONE_LABELS.get(name, "default (None)"), _DEFAULT))
        to_control = (lambda v: _DEFAULT if v is None else v) if optional else _same
        to_field = (lambda v: None if v == _DEFAULT else v) if optional else _same
        field = _Field(widgets.Dropdown(options=choices, value=to_control(value), **common), to_field, to_control)
    elif kind is bool and not optional:
        field = _Field(widgets.Checkbox(value=bool(value), **common))
    elif kind is str:
        # Optional text: an empty box means None (save_dir: "not saved"), which the description says.
        to_field = (lambda v: v.strip() or None) if optional else _same
        text = widgets.Text(value="" if value is None else value, layout=widgets.Layout(width="520px"), **common)
        field = _Field(text, to_field, lambda v: "" if v is None else v)
    elif kind in (int, float):
        number = (widgets.IntText if kind is int else widgets.FloatText)(layout=widgets.Layout(width="320px"), **common)
        if optional:
            placeholder = _PLACEHOLDERS.get(name, kind(1))
            field = _Field(OptionalNumber(number, _TICK_LABELS.get(name, "set"), placeholder, value))
        else:
            number.value = value
            field = _Field(number)
    else:
        raise ValueError(f"ConfigPanel has no control for {name}: {hint}")
    description = TrainConfig.help(name)  # each field's help, said once in dpr_nb.core.config
    for part in (field.widget, *getattr(field.widget, "children", ())):
        _set_tooltip(part, description)
    return field


class ConfigPanel:
    """Controls that edit a TrainConfig: a preset menu, then the chosen fields in sections.

    `panel.config` is the TrainConfig the controls show (fields not shown keep the starting config's values);
    `panel.controls` maps each field name to its widget; `panel.widget` is the container to display.
    """

    def __init__(self, config: TrainConfig | None = None, fields: Sequence[str] | None = None):
        _require_widgets()
        self._base = config if config is not None else TrainConfig()
        hints = typing.get_type_hints(TrainConfig)
        names = list(DEFAULT_FIELDS if fields is None else fields)
        unknown = [name for name in names if name not in hints]
        if unknown:
            raise SettingsError(f"{unknown} are not TrainConfig fields; fields are {sorted(hints)}")
        self._fields = {name: _make_field(name, hints[name], getattr(self._base, name)) for name in names}
        self.controls = {name: field.widget for name, field in self._fields.items()}
        self._holding = False  # while set_config writes every control, their observers wait for the last one

        self.preset = widgets.Dropdown(
            options=[*PRESETS, CUSTOM], value=self._matching_preset(self._base), description="preset", style=_STYLE
        )
        _set_tooltip(
            self.preset,
            "Choosing a preset sets the model and training fields to its values, and keeps the data and output "
            "fields (data_dir, the files, save_dir, ...); 'custom' keeps your changes.",
        )
        self.error = widgets.HTML("")  # TrainConfig's ValueError, instead of an exception from a callback
        self.estimate_button = widgets.Button(description="Estimate")
        _set_tooltip(self.estimate_button, "Time a few training steps and one evaluation of this configuration here.")
        self.estimate_text = widgets.HTML("")
        self.estimate_button.on_click(lambda _: self.estimate())
        estimate = widgets.HBox([self.estimate_button, self.estimate_text])
        self.widget = widgets.VBox([self.preset, *self._sections(names), estimate, self.error])
        self.preset.observe(self._on_preset, names="value")
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self._on_change()

    def _sections(self, names: list[str]) -> list:
        boxes = []
        for title, fields_of_section in TrainConfig.sections().items():  # each field's section, from its metadata
            members = [name for name in names if name in fields_of_section]
            if members:
                heading = widgets.HTML(f"<b>{html.escape(title)}</b>")
                boxes.append(widgets.VBox([heading, *(self.controls[name] for name in members)]))
        return boxes

    @property
    def config(self) -> TrainConfig:
        """The TrainConfig the controls show; ValueError (TrainConfig's message) when the values do not fit."""
        changes = {name: field.to_field(field.widget.value) for name, field in self._fields.items()}
        return dataclasses.replace(self._base, **changes)

    def set_config(self, config: TrainConfig) -> None:
        """Show `config`: every control takes its value, and fields not shown take it too."""
        if not isinstance(config, TrainConfig):
            raise TypeError(f"set_config expects a TrainConfig, got {type(config).__name__}")
        self._base = config
        self._holding = True  # a half-written panel would flash errors and switch the preset menu to "custom"
        try:
            for name, field in self._fields.items():
                field.widget.value = field.to_control(getattr(config, name))
        finally:
            self._holding = False
        self._on_change()

    def _on_preset(self, change) -> None:
        if change.new != CUSTOM and not self._holding:
            current = self._base if self._errors() else self.config
            self.set_config(TrainConfig.preset(change.new, **{k: getattr(current, k) for k in KEPT_BY_PRESETS}))

    def _errors(self) -> bool:
        try:
            _ = self.config
        except (ValueError, TypeError):
            return True
        return False

    def _on_change(self, change=None) -> None:
        if self._holding:
            return
        try:
            config = self.config
        except (ValueError, TypeError) as error:
            self.error.value = f'<span style="color:#c62828">{html.escape(str(error))}</span>'
            return
        self.error.value = ""
        self._holding = True  # the menu follows the controls; it must not reset them in turn
        try:
            self.preset.value = self._matching_preset(config)
        finally:
            self._holding = False

    def estimate(self) -> pd.DataFrame | None:
        """How long training this configuration takes here, and its memory: a few timed steps and one evaluation
        (dpr_nb.training.sweeps.estimate_cost), said beside the button; the table, or None where it cannot say."""
        try:
            config = self.config
        except (ValueError, TypeError) as error:
            self.estimate_text.value = html.escape(str(error))
            return None
        self.estimate_text.value = "timing a few steps…"
        try:
            cost = estimate_cost([("this configuration", config, {})], probe_steps=2)
        except Exception as error:  # its data or its model not there: said beside the button, not raised by a click
            self.estimate_text.value = html.escape(f"{type(error).__name__}: {error}")
            return None
        row = cost.iloc[0]
        self.estimate_text.value = html.escape(
            f"about {_clock(row['estimated_seconds'])} for {row['steps']} steps ({row['seconds_per_step']:.2f} s a "
            f"step) and {row['evaluations']} evaluation(s); memory about {row['memory_mb']:.0f} MB ({row['memory']})"
        )
        return cost

    @staticmethod
    def _matching_preset(config: TrainConfig) -> str:
        """The preset whose recipe the config follows, whatever its data and output fields."""
        kept = {name: getattr(config, name) for name in KEPT_BY_PRESETS}
        return next((name for name, preset in PRESETS.items() if preset.replace(**kept) == config), CUSTOM)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


# ---------------------------------------------------------------------------------------------------------------


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _number(value) -> str:
    if isinstance(value, numbers.Integral):
        return str(value)
    if isinstance(value, numbers.Real):
        return f"{value:.4g}"
    return str(value)


def negatives_text(record: dict) -> str:
    """What each question of the step competed against, in words.

    >>> negatives_text({"negatives": 7.0, "in_batch_negatives": 6.0, "hard_negatives": 1.0,
    ...                 "negatives_from_other_processes": 0.0})
    '7 negatives per question (6 in-batch, 1 hard)'
    """
    parts = [f"{_number(record['in_batch_negatives'])} in-batch", f"{_number(record['hard_negatives'])} hard"]
    if record.get("negatives_from_other_processes"):
        parts.append(f"{_number(record['negatives_from_other_processes'])} from other GPUs")
    return f"{_number(record['negatives'])} negatives per question ({', '.join(parts)})"


def _metrics_table(latest: dict[str, dict]) -> str:
    """The newest evaluation of each split, as an HTML table: one column per split, one row per metric."""
    names = [k for k in dict.fromkeys(k for record in latest.values() for k in record) if k not in ("step", "split")]
    header = "".join(f"<th>{html.escape(split)} (step {record['step']})</th>" for split, record in latest.items())
    cell = lambda record, name: f"<td>{html.escape(_number(record[name])) if name in record else ''}</td>"  # noqa: E731
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>{''.join(cell(r, name) for r in latest.values())}</tr>" for name in names
    )
    return f"<table><tr><th>metric</th>{header}</tr>{rows}</table>"


def _png(figure) -> bytes:
    from matplotlib import pyplot

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=90)
    finally:
        pyplot.close(figure)  # plots.py already released it from pyplot; this makes sure none pile up
    return buffer.getvalue()


def _show_only(output, png: bytes) -> None:
    """Make the image the one thing `output` shows, replacing what it showed before."""
    from IPython.display import Image, clear_output, display

    with output:
        if output.msg_id:  # in a kernel: the page captures this cell's display messages into the widget
            clear_output(wait=True)  # wait: the old plot stays until the new one arrives, so nothing flickers
            display(Image(data=png, format="png"))
            return
    # No kernel (a script, the tests): nothing would capture a display, so write the outputs as the page would.
    data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": "<training curves>"}
    output.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)


def _speed_and_memory(trainer, steps: int, seconds: float) -> str:
    """ " · 41.3 questions/s · GPU 5.2 GB": the run's throughput so far, and on a GPU its peak memory so far."""
    config = getattr(trainer, "config", None)
    text = ""
    if config is not None and steps > 0 and seconds > 0:
        text += f" · {steps * config.batch_size * config.grad_acc_steps / seconds:.1f} questions/s"
    device = getattr(trainer, "device", None)
    if getattr(device, "type", None) == "cuda":
        import torch

        text += f" · GPU {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GB"
    return text


class TrainingDashboard:
    """A progress bar, the latest evaluation and the loss and learning-rate curves of a run, updated in place.

    Pass `dashboard.callbacks()` as `retriever.train(callbacks=...)`, or `dashboard.attach(trainer)`.
    `total_steps`: None reads it from the trainer at "on_train_start" (Trainer sets it there: max_steps, or
    ceil(batches per epoch / grad_acc_steps) * n_epochs); without one the bar stays full and the label shows the
    step without a total or time left. The curves are redrawn every `refresh_every`
    optimizer steps, at every evaluation and at the end: a redraw takes a fraction of a second, so a run of
    many short steps wants refresh_every=50 or so.

    `dashboard.history` (a History) records every step and evaluation it is sent, and `dashboard.events` counts
    the events by name.

    Stop (or `dashboard.stop()`) ends training after the step under way as at its planned end: dev evaluated, a
    checkpoint saved (with checkpoint_dir), and the model trained so far returned by `train` (Trainer.request_stop);
    `train(resume=True)` continues it. A cell busy training hears a click only where its kernel can handle one
    message at a time (ipykernel 6 and older, Colab's among them, through jupyter-ui-poll); elsewhere (ipykernel 7)
    the button is greyed and the kernel's interrupt (■, or Ctrl-C in a script) does the same, a second interrupt
    stopping at once.
    """

    def __init__(self, total_steps: int | None = None, refresh_every: int = 1):
        if refresh_every < 1:
            raise SettingsError(f"refresh_every={refresh_every} must be at least 1")
        self.total_steps, self._given_total, self.refresh_every = total_steps, total_steps, refresh_every
        self.history = History()
        self.events: Counter = Counter()
        self.latest: dict[str, dict] = {}  # split -> its newest evaluation record
        self._started = time.monotonic()
        self._start_step = 0
        self._checkpoint = ""
        self._plot_failed = False
        self._trainer = None  # the trainer running, which Stop asks to stop
        self._poll = None  # handles clicks while the cell is busy, where the kernel can (busy_cell_polling)
        self.widget = None
        if widgets is not None:
            self.progress = widgets.IntProgress(
                value=0,
                min=0,
                max=max(1, total_steps or 1),
                description="training",
                layout=widgets.Layout(width="420px"),
            )
            self.status = widgets.Label("waiting for training to start")
            self.stop_button = widgets.Button(description="Stop", disabled=True, layout=widgets.Layout(width="70px"))
            self.stop_button.on_click(lambda _: self.stop())
            self.metrics = widgets.HTML("")
            self.plot = widgets.Output()
            self.widget = widgets.VBox(
                [widgets.HBox([self.progress, self.stop_button, self.status]), self.metrics, self.plot]
            )

    def callbacks(self) -> dict:
        """{event: function} for every trainer event, as `retriever.train(callbacks=...)` takes them."""
        return {event: getattr(self, event) for event in EVENTS}

    def attach(self, trainer):
        """Subscribe to every event of `trainer` (a dpr_nb.training.trainer.Trainer); returns the trainer."""
        for event, function in self.callbacks().items():
            trainer.add_callback(event, function)
        return trainer

    def stop(self) -> None:
        """Ask the training under way to end after its step, keeping the model trained so far."""
        if self._trainer is None:
            return
        self._trainer.request_stop()
        text = "stopping at the end of this step: then dev is evaluated and the model so far kept"
        if self.widget is None:
            print(text, flush=True)
            return
        self.stop_button.disabled = True
        self.status.value = text

    # --- the events ----------------------------------------------------------------------------------------------

    def on_train_start(self, trainer) -> None:
        self.events["on_train_start"] += 1
        # A resumed run starts with the checkpoint's history: copy it, so ours still equals the trainer's.
        trainer_history = getattr(trainer, "history", None)
        self.history = History.from_dict(trainer_history.to_dict()) if trainer_history is not None else History()
        self.total_steps = self._given_total or getattr(trainer, "total_steps", None)
        self._start_step = getattr(trainer, "step", 0) or 0
        self._started = time.monotonic()
        self.latest, self._checkpoint = {}, ""  # a dashboard used for a second run shows only that run
        self._trainer = trainer
        trainer.stop_on_interrupt = True  # the kernel's interrupt ends the run as Stop does
        self._poll = busy_cell_polling()
        if self.widget is not None:
            self.progress.bar_style = ""
            self.metrics.value = ""
            self.stop_button.disabled = self._poll is None
            _set_tooltip(
                self.stop_button,
                "End training after this step, keeping the model so far"
                if self._poll
                else "This kernel hears no click while a cell runs: interrupt it (■) to stop, keeping the model so far",
            )
        self._show_progress(self._start_step, "started")

    def on_step_end(self, trainer, record: dict) -> None:
        self.events["on_step_end"] += 1
        self.history.steps.append(dict(record))
        step = record["step"]
        done, elapsed = step - self._start_step, time.monotonic() - self._started
        text = (
            f"step {step}/{self.total_steps or '?'} · epoch {record.get('epoch', 0) + 1} · "
            f"loss {record['loss']:.4f} · lr {record['learning_rate']:.2e} · {_clock(elapsed)} elapsed"
        )
        if self.total_steps and done > 0:
            text += f" · {_clock(elapsed / done * max(0, self.total_steps - step))} left"
        text += _speed_and_memory(trainer, done, elapsed)
        if "negatives" in record:
            text += " · " + negatives_text(record)
        self._show_progress(step, text)
        if step % self.refresh_every == 0:
            self._redraw()
        if self._poll is not None:  # a click on Stop, if one came
            self._poll()

    def on_evaluate(self, trainer, record: dict) -> None:
        self.events["on_evaluate"] += 1
        self.history.evaluations.append(dict(record))
        self.latest[record.get("split", "dev")] = dict(record)
        if self.widget is None:
            print(
                f"{record.get('split', 'dev')} at step {record.get('step')}: "
                + " ".join(f"{k}={_number(v)}" for k, v in record.items() if k not in ("step", "split"))
            )
            return
        self._show_metrics()
        self._redraw()

    def on_checkpoint(self, trainer, folder) -> None:
        self.events["on_checkpoint"] += 1
        self._checkpoint = f"checkpoint at step {getattr(trainer, 'step', '?')}: {folder}"
        if self.widget is not None:
            self._show_metrics()

    def on_train_end(self, trainer, history) -> None:
        self.events["on_train_end"] += 1
        # best, stopped_early_at and the kept weights' evaluations come with no event of their own: they are read
        # from the final history.
        self.history.best = dict(history.best)
        self.history.stopped_early_at = history.stopped_early_at
        self.history.kept_evaluations = {split: dict(record) for split, record in history.kept_evaluations.items()}
        step = self.history.steps[-1]["step"] if self.history.steps else self._start_step
        text = f"done: {step} steps in {_clock(time.monotonic() - self._started)}"
        if history.stopped_early_at:
            text += f" (stopped early at step {history.stopped_early_at})"
        if history.stopped_at:
            text = f"stopped at step {step} of {trainer.total_steps} in {_clock(time.monotonic() - self._started)}"
            text += "; train(resume=True) continues it" if trainer.config.checkpoint_dir else ""
        self._trainer = None
        best = history.best
        if best:
            text += f" · kept the weights of step {best['step']} (best {best['metric']}: {_number(best['value'])})"
        self.total_steps = step  # the bar ends full, also when early stopping ended the run before the planned end
        self._show_progress(step, text, always=True)
        if self.widget is not None:
            self.progress.bar_style = "warning" if history.stopped_at else "success"
            self.stop_button.disabled = True
            self._redraw()

    # --- showing ---------------------------------------------------------------------------------------------------

    def _show_progress(self, step: int, text: str, always: bool = False) -> None:
        if self.widget is None:
            if always or (step and step % self.refresh_every == 0):
                print(text, flush=True)
            return
        # max before value: IntProgress clamps the value to its max. Without a total the bar just fills up.
        self.progress.max = max(1, self.total_steps or step)
        self.progress.value = min(step, self.progress.max)
        self.status.value = text

    def _show_metrics(self) -> None:
        parts = [_metrics_table(self.latest)] if self.latest else []
        if self._checkpoint:
            parts.append(f"<small>{html.escape(self._checkpoint)}</small>")
        self.metrics.value = "".join(parts)

    def _redraw(self) -> None:
        if self.widget is None or self._plot_failed or not (self.history.steps or self.history.evaluations):
            return
        try:
            _show_only(self.plot, _png(plot_training(self.history)))
        except Exception as error:  # a plotting problem must never end a training run that may have taken hours
            self._plot_failed = True
            warnings.warn(f"TrainingDashboard stopped drawing the curves: {error!r}", stacklevel=2)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.widget is not None:
            display(self.widget)


def busy_cell_polling():
    """A function that lets a busy cell handle the widgets' waiting messages (a click on Stop), or None where this
    kernel cannot: ipykernel 6 and older (Colab's) handle one message at a time through jupyter-ui-poll; ipykernel 7
    has no such call, so its clicks wait for the cell to end. None outside a Jupyter kernel."""
    try:
        from IPython import get_ipython
        from jupyter_ui_poll import ui_events
    except ImportError:
        return None
    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None or not hasattr(kernel, "do_one_iteration"):
        return None

    polled = [0.0]

    def poll() -> None:
        if time.monotonic() - polled[0] < 0.25:  # at most four times a second: each look costs a thread's start
            return
        # Messages that would run a cell wait until this one ends (jupyter-ui-poll queues and replays them).
        with ui_events() as handle:
            handle(20)
        polled[0] = time.monotonic()

    return poll


# ---------------------------------------------------------------------------------------------------------------

# The settings a sweep panel offers first: what 04_explore asks about.
SWEEP_FIELDS = (
    "batch_size",
    "num_hard_negatives",
    "learning_rate",
    "temperature",
    "grad_cache_chunk_size",
    "grad_acc_steps",
    "n_epochs",
    "max_steps",
    "max_samples",
    "similarity_function",
    "dropout",
)
_NO_FIELD = "(none)"


def on_colab() -> bool:
    """Whether this kernel is Colab's (its module is imported there before any cell runs)."""
    import sys

    return "google.colab" in sys.modules


class SweepPanel:
    """Choose one or two settings and their values, the seeds, then Start: a sweep (dpr_nb.training.sweeps) trains in
    the background while the table and the plots below fill in after every run; Stop ends it after the current step.

        panel = SweepPanel("runs/my-sweep", TrainConfig.preset("smoke", eval_corpus="builtin", save_dir=None))
        panel                                   # a cell ending here shows it

    The runs are on disk (dpr_nb.training.runs), not in the panel: re-running the cell shows the finished runs again,
    and Start continues an interrupted sweep where it stopped. Values are comma-separated and read as `--set` reads
    them ("4, 16, 64"; "None" for no caching). Estimate times the runs still to train before any starts
    (`estimate_cost`); the metric and split chosen redraw the table, and the verdict line chooses the best setting on
    dev and measures its lead on test, question by question (dpr_nb.training.effects). Export writes the table as CSV
    beside the runs. `panel.table` is the latest comparison table.

    On Colab the sweep runs in the foreground, the cell busy until it ends: Colab does not show what a background
    thread changes in a widget (googlecolab/colabtools#3373), so the table would stay still. Stop is heard there
    between steps where the kernel can handle a click while busy (busy_cell_polling: Colab's can); elsewhere it is
    hidden, and interrupting the cell (Runtime > Interrupt execution) stops. Start continues. `background=` chooses
    either way.
    """

    def __init__(
        self,
        runs_dir,
        base: TrainConfig,
        fields: Sequence[str] = SWEEP_FIELDS,
        metric: str = "top_5_accuracy",
        seeds: str = "0, 1, 2",
        background: bool | None = None,
    ):
        _require_widgets()
        self.runs_dir, self.base = runs_dir, base
        self.background = not on_colab() if background is None else background
        self.table = None
        self._thread = None
        self._stop = False
        metrics = [*dict.fromkeys([metric, *DEFAULT_METRICS, "top_100_accuracy", "mrr_at_100", "recall_at_20"])]
        self.metric_choice = widgets.Dropdown(options=metrics, value=metric, description="metric", style=_STYLE)
        self.split_choice = widgets.Dropdown(options=["test", "dev"], value="test", description="split", style=_STYLE)
        options = [*fields]
        self.first = widgets.Dropdown(options=options, value=options[0], description="sweep", style=_STYLE)
        self.first_values = widgets.Text(value="4, 16, 64", description="values", layout=widgets.Layout(width="420px"))
        self.second = widgets.Dropdown(options=[_NO_FIELD, *options], value=_NO_FIELD, description="and", style=_STYLE)
        self.second_values = widgets.Text(value="", description="values", layout=widgets.Layout(width="420px"))
        self.seeds = widgets.Text(value=seeds, description="seeds", layout=widgets.Layout(width="420px"))
        self.estimate_button = widgets.Button(description="Estimate")
        self.start_button = widgets.Button(description="Start", button_style="primary")
        self.stop_button = widgets.Button(description="Stop", disabled=True)
        self.export_button = widgets.Button(description="Export CSV")
        _set_tooltip(self.estimate_button, "Time a few steps of each kind of run: the sweep's cost before it starts.")
        _set_tooltip(self.start_button, "Train every point with every seed; finished runs are skipped.")
        _set_tooltip(self.stop_button, "Stop after the current step; Start continues the sweep later.")
        _set_tooltip(self.export_button, "Write the table to sweep.csv beside the runs.")
        self.status = widgets.Label("")
        self.verdict = widgets.HTML("")
        self.results = widgets.HTML("")
        self.curves, self.chart = widgets.Image(format="png"), widgets.Image(format="png")
        self.estimate_button.on_click(lambda _: self.estimate())
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.export_button.on_click(lambda _: self.export())
        for choice in (self.metric_choice, self.split_choice):
            choice.observe(lambda change: self.refresh(), names="value")
        self._poll = None if self.background else busy_cell_polling()
        if not self.background and self._poll is None:
            self.stop_button.layout.display = "none"  # this busy cell takes no clicks: interrupt it instead
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.first, self.first_values]),
                widgets.HBox([self.second, self.second_values]),
                self.seeds,
                widgets.HBox([self.estimate_button, self.start_button, self.stop_button, self.status]),
                widgets.HBox([self.metric_choice, self.split_choice, self.export_button]),
                self.verdict,
                self.results,
                widgets.HBox([self.chart, self.curves]),
            ]
        )
        self.refresh()  # what earlier runs left on disk, shown at once

    @property
    def metric(self) -> str:
        return self.metric_choice.value

    def space(self) -> dict:
        """{field: [values]} as the controls say; a ValueError naming the field and the fix where they do not parse."""
        space = {}
        for field, text in ((self.first.value, self.first_values.value), (self.second.value, self.second_values.value)):
            if field == _NO_FIELD:
                continue
            items = [item.strip() for item in text.split(",") if item.strip()]
            if not items:
                raise SettingsError(f"No values for {field}: type them comma-separated, e.g. 4, 16, 64.")
            space[field] = [getattr(self.base.with_settings([f"{field}={item}"]), field) for item in items]
        return space

    def seed_list(self) -> list[int]:
        try:
            return [int(item) for item in self.seeds.value.split(",") if item.strip()]
        except ValueError:
            raise SettingsError(
                f"seeds={self.seeds.value!r}: give whole numbers, comma-separated, e.g. 0, 1, 2."
            ) from None

    def estimate(self) -> pd.DataFrame | None:
        """The cost of the runs still to train (dpr_nb.training.sweeps.estimate_cost), said in the status line."""
        try:
            plan = plan_sweep(self.base, self.space(), self.seed_list())
        except ValueError as error:
            self.status.value = str(error)
            return None
        pending = pending_runs(self.runs_dir, plan)
        if not pending:
            self.status.value = f"All {len(plan)} runs are finished: nothing to train."
            return None
        self.status.value = f"timing a few steps of each kind of run ({len(pending)} to train)…"
        cost = estimate_cost(pending, probe_steps=2)
        total = cost.attrs["total_seconds"]
        self.status.value = (
            f"{len(pending)} runs to train, about {_clock(total)} "
            f"(peak memory about {cost['memory_mb'].max():.0f} MB, {cost['memory'].iloc[0]})"
        )
        return cost

    def start(self, wait: bool = False) -> None:
        """Start the sweep: in a background thread (the notebook stays usable, Stop can be pressed; `wait` joins it),
        or, on Colab, in the foreground (the class's docstring says why)."""
        import threading

        if self._thread is not None and self._thread.is_alive():
            return
        try:
            space, seeds = self.space(), self.seed_list()
        except ValueError as error:
            self.status.value = str(error)
            return
        self._stop = False
        self.start_button.disabled, self.stop_button.disabled = True, False
        if not self.background:
            self._sweep(space, seeds)
            return
        self._thread = threading.Thread(target=self._sweep, args=(space, seeds), daemon=True)
        self._thread.start()
        if wait:
            self.join()

    def export(self, path=None) -> str | None:
        """Write the table as CSV (default: sweep.csv in runs_dir); returns where."""
        if self.table is None:
            self.status.value = "No runs yet: nothing to export."
            return None
        from pathlib import Path

        target = Path(path) if path is not None else Path(self.runs_dir) / "sweep.csv"
        self.table.to_csv(target)
        self.status.value = f"wrote {target}"
        return str(target)

    def stop(self) -> None:
        self._stop = True
        self.status.value = "stopping after this step…"

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _sweep(self, space: dict, seeds: list[int]) -> None:
        try:
            run_sweep(
                self.runs_dir,
                self.base,
                space,
                seeds,
                stop=lambda: self._stop,
                on_run_end=lambda run: self.refresh(),
                log=self._say,
                callbacks={"on_step_end": lambda trainer, record: self._poll()} if self._poll else None,
            )
        except KeyboardInterrupt:  # the foreground's Stop: the cell interrupted (the run is recorded as stopped)
            self._say("Stopped: press Start to continue the sweep.")
        except Exception as error:  # an exception in a thread would vanish: show it where the learner looks
            self._say(f"{type(error).__name__}: {error}")
        finally:
            self.start_button.disabled, self.stop_button.disabled = False, True
            self.refresh()

    def _say(self, line: str) -> None:
        self.status.value = line

    def refresh(self) -> None:
        """Read the runs from disk and redraw the table and the plots."""
        runs = load_runs(self.runs_dir)
        if not runs:
            self.results.value = "<i>No runs yet: choose settings and press Start.</i>"
            return
        split = self.split_choice.value if all(self.split_choice.value in run.reports for run in runs) else None
        self.table = compare(runs, split=split)
        settings = [name for name in self.table.columns[: list(self.table.columns).index("status")] if name != "seed"]
        parts = [self.table.round(4).to_html()]
        self.verdict.value = self._verdict(runs, settings)
        try:
            if settings and self.metric in self.table:
                finished = self.table[self.table["status"] == "finished"]
                summary = summarize(finished, settings[0] if len(settings) == 1 else settings, self.metric)
                parts.insert(0, summary.round(4).to_html())
                if len(settings) == 1:
                    self.chart.value = _png(plot_setting(finished, settings[0], self.metric))
                elif len(settings) == 2:
                    self.chart.value = _png(plot_heatmap(finished, settings[0], settings[1], self.metric))
            self.curves.value = _png(plot_runs(runs, by=settings or None))
        except Exception as error:  # a plot must never end a sweep that may have taken hours
            warnings.warn(f"SweepPanel could not draw: {error!r}", stacklevel=2)
        self.results.value = "".join(parts)

    def _verdict(self, runs, settings: list[str]) -> str:
        """One line: the best setting chosen on dev, its lead on test with its interval (effects.select_and_report);
        empty where the runs cannot say (one setting's value, no dev or test, no per-question results)."""
        if not settings:
            return ""
        try:
            chosen = select_and_report(runs, settings[0] if len(settings) == 1 else settings, self.metric)
        except (ValueError, KeyError):
            return ""
        lead = chosen["lead on test"]
        name = " x ".join(settings)
        return html.escape(
            f"Best {name} on dev: {chosen['best']}; on test {self.metric} {chosen[f'{self.metric} on test']:.3f}, "
            f"ahead of {chosen['runner-up']} by {lead}"
        ).join(("<b>", "</b>"))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
