"""Plots of training and evaluation: each function returns a matplotlib Figure and shows nothing itself.

A notebook displays the returned figure (as the last line of a cell); a script saves it:

    figure = plot_training(history)          # a cell ending here shows the plot
    figure.savefig("training.png", dpi=150)  # in a script

- plot_training: the training loss per optimizer step, each evaluated split's loss, and the learning rate.
- plot_gold_ranks: where the gold passage landed in the corpus ranking (dpr_nb.evaluation.corpus_eval), e.g. before
  and after fine-tuning.
- plot_report: the in-batch report's precision, recall and F1 (dpr_nb.evaluation.report) as bars.
- plot_top_k: top-k accuracy for k = 1 .. max_k, one line per retriever (trained, untrained, BM25, ...).
- plot_similarity_heatmap: one batch's question x passage scores with the positives outlined, what the loss sees;
  batch_similarities computes them for a retriever.
- plot_runs: several recorded runs' training curves overlaid (dpr_nb.training.runs), coloured by a setting.
- plot_setting: a metric against a setting, mean ± std over seeds, with one question's worth in the title.
- plot_heatmap: a metric over two settings, each cell a mean over seeds.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..core.errors import SettingsError
from ..core.files import folder_labels
from ..data.batches import collate
from ..data.dpr_file import BatchSampler, DPRExample
from ..model.loss import similarity_scores

CLASSES = ("positive", "hard_negative")
MEASURES = ("precision", "recall", "f1-score")


def _figure(**kwargs) -> Figure:
    """A new Figure that pyplot does not keep.

    It is made through pyplot so that Jupyter's inline backend is set up to display figures, then released from
    pyplot: a cell that returns it shows it once (not twice), and a script making many holds none in memory.
    """
    from matplotlib import pyplot

    figure = pyplot.figure(layout="constrained", **kwargs)
    pyplot.close(figure)  # only pyplot lets go; the Figure still draws, displays and saves
    return figure


def _numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def _named(data, attribute: str, labels: Sequence[str] | None = None) -> list[tuple[str | None, np.ndarray]]:
    """(name, array) pairs from a dict name -> array, CorpusResult(s) (their `attribute`) or one array."""
    if isinstance(data, Mapping):
        pairs = [(str(name), _numpy(getattr(values, attribute, values))) for name, values in data.items()]
    elif hasattr(data, attribute):
        pairs = [(data.name, getattr(data, attribute))]
    elif isinstance(data, Sequence) and data and all(hasattr(d, attribute) for d in data):
        pairs = [(d.name, getattr(d, attribute)) for d in data]
    else:
        pairs = [(None, _numpy(data))]
    if labels is not None:
        if len(labels) != len(pairs):
            raise SettingsError(f"{len(labels)} labels for {len(pairs)} series")
        pairs = [(label, values) for label, (_, values) in zip(labels, pairs)]
    return pairs


# ---------------------------------------------------------------------------------------------------------------


def plot_training(history) -> Figure:
    """Training loss per optimizer step, each evaluated split's loss at its steps, the learning rate on the right.

    `history` is a dpr_nb.training.trainer.History or its dict (History.to_dict(), or the JSON History.save wrote).

    >>> figure = plot_training({"steps": [{"step": 1, "loss": 2.0, "learning_rate": 1e-5}], "evaluations": []})
    """
    values = history.to_dict() if hasattr(history, "to_dict") else dict(history)
    steps, evaluations = values.get("steps") or [], values.get("evaluations") or []
    if not steps and not evaluations:
        raise SettingsError("The history is empty: nothing was trained or evaluated.")
    figure = _figure(figsize=(8, 3.5))
    loss_axis = figure.add_subplot()
    loss_axis.plot([s["step"] for s in steps], [s["loss"] for s in steps], color="tab:blue", label="training loss")
    for split in dict.fromkeys(e["split"] for e in evaluations if "loss" in e):  # splits in order of appearance
        records = [e for e in evaluations if e["split"] == split and "loss" in e]
        loss_axis.plot(
            [e["step"] for e in records],
            [e["loss"] for e in records],
            marker="o",
            linestyle="--",
            label=f"{split} loss",
        )
    best = values.get("best") or {}
    if "step" in best:
        loss_axis.axvline(best["step"], color="tab:green", linestyle=":", label=f"kept weights (best {best['metric']})")
    loss_axis.set(xlabel="optimizer step", ylabel="loss", title="Training")
    rate_axis = loss_axis.twinx()  # the learning rate has its own scale, on the right
    rate_axis.plot(
        [s["step"] for s in steps],
        [s["learning_rate"] for s in steps],
        color="tab:gray",
        alpha=0.6,
        label="learning rate",
    )
    rate_axis.set_ylabel("learning rate", color="tab:gray")
    handles, labels = zip(*(pair for axis in (loss_axis, rate_axis) for pair in zip(*axis.get_legend_handles_labels())))
    loss_axis.legend(handles, labels, loc="upper right", fontsize="small")
    return figure


def plot_gold_ranks(gold_ranks, max_rank: int = 20, labels: Sequence[str] | None = None) -> Figure:
    """Histogram of the gold passage's 0-based rank in the corpus: one bar per rank below `max_rank`, then a bar
    "≥max_rank" and a bar "missing" (rank -1: the gold passage is not in the corpus).

    `gold_ranks`: one array, a dict name -> array or CorpusResult, or CorpusResult(s); several are drawn
    side by side (e.g. before and after fine-tuning). `labels` renames the series in order.

    >>> figure = plot_gold_ranks({"untrained": np.array([5, 40, -1]), "trained": np.array([0, 1, 3])}, max_rank=10)
    """
    series = _named(gold_ranks, "gold_ranks", labels)
    figure = _figure(figsize=(8, 3.5))
    axis = figure.add_subplot()
    # Ranks 0 .. max_rank - 1, then "≥max_rank" and "missing", each set apart so their labels do not collide.
    positions = np.append(np.arange(max_rank), [max_rank + 1, max_rank + 2.5])
    width = 0.8 / len(series)
    for index, (name, ranks) in enumerate(series):
        ranks = np.asarray(ranks).ravel()
        counts = np.bincount(np.clip(ranks[ranks >= 0], 0, max_rank), minlength=max_rank + 1)
        counts = np.append(counts, (ranks < 0).sum())
        axis.bar(positions + (index - (len(series) - 1) / 2) * width, counts, width, label=name)
    every = max(1, max_rank // 10)
    ticks = [*range(0, max_rank, every)]
    axis.set_xticks([*ticks, *positions[-2:]], [*map(str, ticks), f"≥{max_rank}", "missing"])
    axis.set(
        xlabel="rank of the gold passage (0 = ranked first)",
        ylabel="questions",
        title="Where the gold passage is ranked",
    )
    if any(name is not None for name, _ in series):
        axis.legend()
    return figure


def plot_report(report) -> Figure:
    """The in-batch report's precision, recall and F1 per class (dpr_nb.evaluation.report), as grouped bars.

    `report` is the dict of ranking_report / evaluate / retriever.evaluate, or its "report" DataFrame.

    >>> from dpr_nb.evaluation.report import ranking_report
    >>> figure = plot_report(ranking_report([torch.tensor([[2.0, 1.0], [0.0, 1.0]])], [torch.eye(2, dtype=bool)]))
    """
    table = report["report"] if isinstance(report, Mapping) else report
    figure = _figure(figsize=(6, 3.5))
    axis = figure.add_subplot()
    positions, width = np.arange(len(CLASSES)), 0.8 / len(MEASURES)
    for index, measure in enumerate(MEASURES):
        bars = axis.bar(positions + (index - 1) * width, [table.loc[c, measure] for c in CLASSES], width, label=measure)
        axis.bar_label(bars, fmt="%.2f", fontsize="small")
    axis.set_xticks(positions, [f"{c}\n({table.loc[c, 'support']} pairs)" for c in CLASSES])
    axis.set(ylim=(0, 1.25), ylabel="score")
    title = "In-batch report"
    if isinstance(report, Mapping) and "num_candidates" in report:
        title += f": each question ranked {report['num_candidates']:g} passages"
    axis.set_title(title)
    axis.legend(loc="upper center", ncols=len(MEASURES), fontsize="small")
    return figure


def top_k_accuracy(hits) -> np.ndarray:
    """Accuracy at k = 1 .. hits.shape[1]: the share of rows with a hit in their first k columns.

    >>> top_k_accuracy(np.array([[False, True], [False, False]])).tolist()
    [0.0, 0.5]
    """
    return np.logical_or.accumulate(np.asarray(hits, dtype=bool), axis=1).mean(axis=0)


def plot_top_k(results, max_k: int | None = None) -> Figure:
    """Top-k accuracy curves, k = 1 .. max_k on a log axis, one line per retriever.

    `results`: CorpusResult(s) (named by their name; accuracy from their `hits`), a dict name -> hits array or
    name -> CorpusResult (as Trainer.corpus_results).
    A result's curve ends at its number of hits columns (the largest k it was evaluated with).

    >>> figure = plot_top_k({"dense": np.array([[False, True], [True, False]])})
    """
    series = _named(results, "hits")
    max_k = max_k or max(hits.shape[1] for _, hits in series)
    figure = _figure(figsize=(6, 3.5))
    axis = figure.add_subplot()
    for name, hits in series:
        accuracy = top_k_accuracy(np.asarray(hits)[:, :max_k])
        axis.plot(np.arange(1, len(accuracy) + 1), accuracy, label=name)
    axis.set_xscale("log")
    ticks = [k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if k <= max_k]
    axis.set_xticks(ticks, [str(k) for k in ticks])
    axis.set_xticks([], minor=True)
    questions = {len(hits) for _, hits in series}
    axis.set(
        xlim=(1, max(max_k, 2)),
        ylim=(0, 1.02),
        xlabel="k",
        ylabel="top-k accuracy",
        title="Top-k retrieval accuracy" + (f" ({questions.pop()} questions)" if len(questions) == 1 else ""),
    )
    axis.grid(alpha=0.3)
    if any(name is not None for name, _ in series):
        axis.legend()
    return figure


def plot_similarity_heatmap(
    scores, positive_mask, question_labels: Sequence[str] | None = None, passage_labels: Sequence[str] | None = None
) -> Figure:
    """One batch's question x passage scores, with each question's positives outlined and its top-scored passage
    dotted: the loss pushes the outlined cell of every row above the rest of its row.

    >>> figure = plot_similarity_heatmap(np.array([[2.0, 0.5], [0.1, 1.0]]), np.eye(2, dtype=bool))
    """
    scores, positive_mask = _numpy(scores).astype(float), _numpy(positive_mask).astype(bool)
    if scores.shape != positive_mask.shape:
        raise SettingsError(f"scores {scores.shape} and positive_mask {positive_mask.shape} differ in shape")
    questions, passages = scores.shape
    figure = _figure(figsize=(max(6.0, 0.35 * passages + 4), max(3.5, 0.35 * questions + 2.5)))
    axis = figure.add_subplot()
    image = axis.imshow(scores, cmap="viridis", aspect="auto")
    figure.colorbar(image, ax=axis, label="similarity")
    for row, column in zip(*np.nonzero(positive_mask)):
        axis.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    axis.scatter(scores.argmax(axis=1), np.arange(questions), s=12, color="white", edgecolor="black")
    short = lambda labels: [label if len(label) <= 30 else label[:29] + "…" for label in labels]  # noqa: E731
    if question_labels is not None:
        axis.set_yticks(range(questions), short(question_labels), fontsize="small")
    if passage_labels is not None:
        axis.set_xticks(range(passages), short(passage_labels), rotation=90, fontsize="small")
    axis.set(xlabel="passage", ylabel="question", title="Scores of one batch\n(red box: positive, dot: top-scored)")
    return figure


@torch.no_grad()
def batch_similarities(
    retriever, examples: Sequence[DPRExample], num_hard_negatives: int = 1, batch_size: int = 8
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(scores (questions, passages), positive_mask, question labels, passage labels) of the first batch of
    `examples`, as training batches them (one positive and `num_hard_negatives` per question, not shuffled).

    The scores are the retriever's similarity without a temperature: dot products, or cosines in [-1, 1].

    >>> plot_similarity_heatmap(*batch_similarities(retriever, dev_examples))  # doctest: +SKIP
    """
    sampler = BatchSampler(examples, batch_size, num_positives=1, num_hard_negatives=num_hard_negatives, shuffle=False)
    items = next(iter(sampler))
    model = retriever.model
    batch = collate(
        items,
        model.query_encoder.tokenizer,
        model.passage_encoder.tokenizer,
        retriever.max_seq_len_query,
        retriever.max_seq_len_passage,
        retriever.embed_title,
    )
    batch = batch.to(retriever.device)
    was_training = model.training
    model.eval()
    try:
        query_embeddings, passage_embeddings = model(batch.query, batch.passage)
    finally:
        model.train(was_training)
    scores = similarity_scores(query_embeddings.float(), passage_embeddings.float(), retriever.similarity_function)
    passages = {p.text_key: p for _, positives, negatives in items for p in (*positives, *negatives)}
    passage_labels = [passages[key].title or passages[key].text for key in batch.passage_keys]
    return (scores.cpu().numpy(), batch.positive_mask.cpu().numpy(), [e.question for e, _, _ in items], passage_labels)


# ---------------------------------------------------------------------------------------------------------------
# Several runs (dpr_nb.training.runs): curves overlaid, a metric against a setting, two settings as a heatmap


def _setting_label(value) -> str:
    return (
        "None"
        if value is None or (isinstance(value, float) and np.isnan(value))
        else f"{value:g}"
        if isinstance(value, float)
        else str(value)
    )


def plot_runs(runs, by: str | Sequence[str] | None = None, x: str = "step", window: int | None = None) -> Figure:
    """Several runs' training loss in one figure: a moving average over `window` steps (default: a twentieth of
    the longest run), against optimizer steps (`x="step"`) or training questions seen (`x="questions"`).

    `runs` are dpr_nb.training.runs.Run objects (anything with .name, .config and .history). With `by` (settings), runs
    that share those settings share a colour: the seeds of one setting are lines of one colour, their spread the
    noise. Losses of runs whose questions rank different numbers of passages are not comparable in level (a bigger
    batch starts higher, at about log of its passages); the corpus metrics are.
    """
    if x not in ("step", "questions"):
        raise SettingsError(f"x={x!r}: use 'step' (optimizer steps) or 'questions' (training questions seen).")
    runs = [run for run in runs if run.history.steps]
    if not runs:
        raise SettingsError("No run has training steps to plot: train some first (dpr_nb.training.sweeps.run_sweep).")
    by = [by] if isinstance(by, str) else list(by or [])
    figure = _figure(figsize=(8, 3.5))
    axis = figure.add_subplot()
    colours, labelled = {}, set()
    window = window or max(1, max(len(run.history.steps) for run in runs) // 20)
    labels = folder_labels([getattr(run, "folder", None) for run in runs], [run.name for run in runs])
    for run, run_label in zip(runs, labels):  # by folder: two sweeps' runs of one name are two lines
        key = tuple(_setting_label(getattr(run.config, name)) for name in by) if by else (run_label,)
        colour = colours.setdefault(key, f"C{len(colours) % 10}")
        losses = np.array([s["loss"] for s in run.history.steps], dtype=float)
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid") if len(losses) >= window else losses
        steps = np.array([s["step"] for s in run.history.steps])[len(losses) - len(smooth) :]
        questions_per_step = run.config.batch_size * run.config.grad_acc_steps
        label = ", ".join(f"{n}={v}" for n, v in zip(by, key)) if by else run_label
        axis.plot(
            steps * questions_per_step if x == "questions" else steps,
            smooth,
            color=colour,
            alpha=0.8,
            linewidth=1.2,
            label=None if label in labelled else label,
        )
        labelled.add(label)
    axis.set(
        xlabel="optimizer step" if x == "step" else "training questions seen",
        ylabel=f"training loss (mean of {window} steps)" if window > 1 else "training loss",
        title=f"Training loss of {len(runs)} runs",
    )
    axis.legend(fontsize="small", ncols=2 if len(labelled) > 6 else 1)
    return figure


def _group_key(table, names: list[str]):
    """The table's setting columns as group keys, None (no caching, default temperature) kept as a value."""
    return [table[name].astype(object).where(table[name].notna(), None).map(_setting_label) for name in names]


def _sorted_labels(column) -> list[str]:
    """A setting's values in ascending order, None last, as labels."""
    values = list(dict.fromkeys(column.astype(object).where(column.notna(), None)))
    return [_setting_label(v) for v in sorted(values, key=lambda v: (v is None, v if v is not None else 0))]


def _one_question(table) -> str:
    questions = table["questions"].dropna() if "questions" in table else []
    return f"; one question = {1 / questions.max():.3g}" if len(questions) else ""


def plot_setting(table, setting: str, metric: str, by: str | None = None) -> Figure:
    """`metric` against one setting: each run as a dot, the mean over its seeds with a bar of ± one standard
    deviation (of the seeds, n - 1). A point with a single run has no bar: one run measures no spread, and a bar of
    zero length would read as a certain value. With `by`, one line per value of that second setting. The title says
    how much one question is worth in the metric, the smallest difference the table can show.

    `table` is dpr_nb.training.runs.compare's (a DataFrame with the setting and metric as columns).

    >>> import pandas as pd
    >>> table = pd.DataFrame({"batch_size": [4, 4, 16, 16], "top_5_accuracy": [0.3, 0.34, 0.41, 0.45],
    ...                       "questions": [100] * 4})
    >>> figure = plot_setting(table, "batch_size", "top_5_accuracy")
    """
    for name in (setting, metric, *([by] if by else [])):
        if name not in table.columns:
            raise SettingsError(f"{name!r} is not a column of the table; columns are {list(table.columns)}")
    values = table[setting].dropna()
    numeric = len(values) == len(table) and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
    # A setting spread over orders of magnitude (learning rate) reads best on a log axis; None makes it categorical.
    log = numeric and values.min() > 0 and values.max() / values.min() >= 10
    figure = _figure(figsize=(6, 3.5))
    axis = figure.add_subplot()
    categories = list(dict.fromkeys(_group_key(table, [setting])[0]))
    lines = list(dict.fromkeys(_group_key(table, [by])[0])) if by else [None]
    for index, line in enumerate(lines):
        rows = table if line is None else table[_group_key(table, [by])[0] == line]
        keys = _group_key(rows, [setting])[0]
        grouped = rows.groupby(keys, sort=False)[metric]
        # A single run's std is NaN (n - 1 = 0), and matplotlib draws no bar for a NaN error: left so, not filled
        # with 0, which would draw a zero-length bar that claims a spread was measured.
        means, stds = grouped.mean(), grouped.std()
        order = [c for c in categories if c in means.index]
        if numeric:
            positions = np.array([float(rows[setting][keys == c].iloc[0]) for c in order])
            dots = rows[setting].astype(float).to_numpy()
        else:
            positions = np.array([categories.index(c) for c in order], dtype=float)
            dots = np.array([categories.index(c) for c in keys], dtype=float)
        colour = f"C{index % 10}"
        axis.scatter(dots, rows[metric], color=colour, alpha=0.35, s=14)
        axis.errorbar(
            positions,
            means[order],
            yerr=stds[order],
            color=colour,
            marker="o",
            capsize=4,
            label=None if line is None else f"{by}={line}",
        )
    if log:
        axis.set_xscale("log")
        ticks = sorted(set(table[setting].astype(float)))
        axis.set_xticks(ticks, [_setting_label(t) for t in ticks])  # the values swept, not powers of ten
        axis.set_xticks([], minor=True)
    if not numeric:
        axis.set_xticks(range(len(categories)), categories)
    seeds = table.groupby(_group_key(table, [setting, *([by] if by else [])]))[metric].count()
    axis.set(
        xlabel=setting,
        ylabel=metric,
        title=f"{metric}: mean ± std over {seeds.min()}–{seeds.max()} runs" + _one_question(table)
        if seeds.min() != seeds.max()
        else f"{metric}: mean ± std over {seeds.min()} runs each" + _one_question(table),
    )
    axis.title.set_fontsize("medium")
    axis.grid(alpha=0.3)
    if by:
        axis.legend(fontsize="small")
    return figure


def plot_heatmap(table, x: str, y: str, metric: str) -> Figure:
    """`metric` over two settings: each cell the mean over its runs (seeds), written with its standard deviation.

    >>> import pandas as pd
    >>> table = pd.DataFrame({"learning_rate": [1e-4, 1e-4, 1e-3, 1e-3], "temperature": [0.5, 1.0, 0.5, 1.0],
    ...                       "top_5_accuracy": [0.2, 0.3, 0.4, 0.35]})
    >>> figure = plot_heatmap(table, "learning_rate", "temperature", "top_5_accuracy")
    """
    for name in (x, y, metric):
        if name not in table.columns:
            raise SettingsError(f"{name!r} is not a column of the table; columns are {list(table.columns)}")
    keys = _group_key(table, [y, x])
    grouped = table.groupby(keys, sort=False)[metric]
    means, stds = grouped.mean(), grouped.std()
    xs, ys = _sorted_labels(table[x]), _sorted_labels(table[y])
    grid = np.full((len(ys), len(xs)), np.nan)
    for (row, column), value in means.items():
        grid[ys.index(row), xs.index(column)] = value
    figure = _figure(figsize=(max(4.5, 1.3 * len(xs) + 2.5), max(3.0, 0.7 * len(ys) + 1.8)))
    axis = figure.add_subplot()
    image = axis.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
    figure.colorbar(image, ax=axis, label=f"{metric} (mean)")
    middle = np.nanmean(grid)
    for (row, column), value in means.items():
        spread = stds[(row, column)]
        text = f"{value:.3f}" + (f"\n± {spread:.3f}" if spread == spread else "")
        colour = "black" if value > middle else "white"
        axis.text(xs.index(column), ys.index(row), text, ha="center", va="center", fontsize="small", color=colour)
    axis.set_xticks(range(len(xs)), xs)
    axis.set_yticks(range(len(ys)), ys)
    axis.set(xlabel=x, ylabel=y, title=f"{metric} by {x} and {y}" + _one_question(table))
    axis.title.set_fontsize("medium")
    return figure
