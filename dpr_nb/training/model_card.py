"""A Markdown model card for a trained retriever: what it is, what it was trained on, how well it does, how to use it.

`write_model_card(folder, retriever)` writes folder/README.md, which the Hugging Face hub and GitHub show as the
folder's front page; `model_card(...)` returns the same text without writing. Everything the card says comes
from what the run recorded (the TrainConfig, the History, the reports) and any corpus metrics passed in; a piece
that is missing (a model that was never trained here, a history-less folder) is said to be missing, never
guessed.

The card starts with the Hub's metadata (`hub_metadata`: YAML between `---` lines, written by huggingface_hub's
ModelCardData): the library, the pipeline tag, the base models, the datasets when named, and the corpus metrics of
each held-out split as the model index the Hub shows as evaluation results.

    >>> from dpr_nb import TrainConfig
    >>> card = model_card(config=TrainConfig.preset("smoke"),
    ...                   corpus_metrics={"dense": {"top_20_accuracy": 0.8125, "questions": 40}})
    >>> card.splitlines()[:3]  # the Hub's metadata first (the smoke preset's tiny model has no base model there)
    ['---', 'library_name: dpr_nb', 'pipeline_tag: feature-extraction']
    >>> "# Dense Passage Retriever" in card.splitlines()
    True
    >>> "| dense | 40 | 0.8125 |" in card
    True
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..core.config import TINY_MODEL, TrainConfig, is_builtin_data
from ..core.files import write_atomic
from ..data.hub_files import hub_dataset_parts, is_hub_path

README = "README.md"
REPORT_COLUMNS = ("loss", "acc", "f1", "acc_and_f1", "average_rank")


# ---------------------------------------------------------------------------------------------------------------
# Formatting


def _cell(value) -> str:
    """Any value as text that is safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")  # a raw "|" would split the cell


def _number(value) -> str:
    """A metric with 4 decimals (so a column of them lines up), an integer as it is."""
    if isinstance(value, float):
        return f"{value:.4f}"
    return _cell(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub-flavoured Markdown table.

    >>> print(markdown_table(["setting", "value"], [["batch_size", 16], ["similarity", None]]))
    | setting | value |
    | --- | --- |
    | batch_size | 16 |
    | similarity | None |
    """
    lines = ["| " + " | ".join(map(_cell, header)) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def _code(value) -> str:
    return f"`{value}`"


# ---------------------------------------------------------------------------------------------------------------
# Sections: each returns Markdown lines, and says so when what it describes was not recorded


def _model_section(retriever, config: TrainConfig | None) -> list[str]:
    bi_encoder = getattr(retriever, "model", None)
    encoders = (getattr(bi_encoder, "query_encoder", None), getattr(bi_encoder, "passage_encoder", None))
    # The config names the model training started from; a reloaded encoder's `source` is only the folder it came from.
    base_models = (
        (config.query_model, config.passage_model) if config else tuple(getattr(e, "source", None) for e in encoders)
    )
    lines = [
        "## Model",
        "",
        "A DPR bi-encoder: questions and passages are encoded by two separate transformers, and a passage's "
        "score for a question is the similarity of their vectors.",
        "",
    ]
    for role, base, encoder in zip(("Query", "Passage"), base_models, encoders):
        described = f"- {role} encoder: base model {_code(base) if base else 'not recorded'}"
        if base == TINY_MODEL:
            described += " (a small randomly initialised BERT, dpr_nb's offline test model)"
        if encoder is not None:
            described += f", {encoder.pooling} pooling" + (", normalised vectors" if encoder.normalize else "")
        lines.append(described)
    similarity = getattr(retriever, "similarity_function", None) or (config.similarity_function if config else None)
    lines.append(
        f"- Similarity: {_code(similarity) if similarity else 'what the checkpoint was trained with'}"
        + (f", temperature {config.temperature}" if config and config.temperature else "")
    )
    # The retriever's own settings are the ones it embeds with (training makes them the config's).
    settings = retriever if retriever is not None else config
    if settings is not None:
        lines.append(
            f"- Max sequence length: {settings.max_seq_len_query} tokens for questions, "
            f"{settings.max_seq_len_passage} for passages"
        )
        lines.append(
            "- Passages are encoded as "
            + ("`[CLS] title [SEP] text [SEP]`" if settings.embed_title else "their text alone (no title)")
        )
    return lines + [""]


def _data_section(config: TrainConfig | None) -> list[str]:
    lines = ["## Training data", ""]
    if config is None:
        return lines + ["Not recorded: no training configuration was saved with this model.", ""]
    if is_builtin_data(config.data_dir):
        lines.append(
            '- The built-in dataset dpr_nb generates itself (`data_dir="builtin"`), with its own dev and test splits'
        )
    else:
        lines.append(f"- Folder: {_code(config.data_dir)}")
        for split, filename in (
            ("train", config.train_filename),
            ("dev", config.dev_filename),
            ("test", config.test_filename),
        ):
            lines.append(f"- {split}: {_code(filename) if filename else 'none'}")
        if config.dev_split and not config.dev_filename:
            lines.append(f"- dev: {config.dev_split:.0%} of the training questions held out")
    lines.append(f"- Training questions: {'at most ' + str(config.max_samples) if config.max_samples else 'all'}")
    lines.append(
        f"- {config.num_positives} positive and {config.num_hard_negatives} hard negative passage(s) "
        f"per question, {config.batch_size} questions per batch"
    )
    return lines + [""]


def _config_section(config: TrainConfig | None) -> list[str]:
    if config is None:
        return []
    rows = [
        [field.name, _code(getattr(config, field.name)), field.metadata.get("help", "")]
        for field in dataclasses.fields(config)
    ]
    return [
        "## Training configuration",
        "",
        "The full `TrainConfig` (saved as `train_config.json`; `TrainConfig.load` reads it back):",
        "",
        markdown_table(["setting", "value", "what it does"], rows),
        "",
    ]


def _history_values(history) -> dict:
    """A History (or its dict, as History.save wrote it) as a dict."""
    if history is None:
        return {}
    return history.to_dict() if hasattr(history, "to_dict") else dict(history)


def _last_evaluations(history) -> dict[str, dict]:
    """split -> the evaluation of the weights training kept (the report's numbers, corpus metrics too); in a history
    written before dpr_nb 0.3, the split's last evaluation record."""
    values = _history_values(history)
    return values.get("kept_evaluations") or {record["split"]: record for record in values.get("evaluations") or []}


def _training_section(history) -> list[str]:
    values = _history_values(history)
    steps = values.get("steps") or []
    lines = ["## Training", ""]
    if not steps:
        return lines + [
            "No training history was recorded (the model was not trained here, or not saved with its history).",
            "",
        ]
    first, last = steps[0], steps[-1]
    epochs = max(int(s.get("epoch", 0)) for s in steps) + 1  # epochs are counted from 0
    lines.append(f"- {len(steps)} optimizer steps over {epochs} epoch(s)")
    lines.append(
        f"- Training loss: {first['loss']:.4f} at step {first['step']}, {last['loss']:.4f} at step {last['step']}"
    )
    # The rate each step used: where the config left it to the checkpoint (learning_rate=None), only this says it.
    rates = [(s["learning_rate"], s["step"]) for s in steps if "learning_rate" in s]
    if rates:
        peak, peak_step = max(rates, key=lambda rate_step: rate_step[0])
        lines.append(f"- Learning rate: {peak:g} at its peak (step {peak_step}), {rates[-1][0]:g} at the last step")
    best = values.get("best") or {}
    if best:
        lines.append(
            f"- Kept the weights of step {best['step']}, the best by {_code(best['metric'])} ({best['value']:.4f})"
        )
    if values.get("stopped_early_at") is not None:
        lines.append(f"- Early stopping ended training at step {values['stopped_early_at']}")
    evaluations = values.get("evaluations") or []
    if evaluations:
        lines.append(f"- {len(evaluations)} evaluation(s) recorded in `history.json`")
    return lines + [""]


def _reports_section(reports: Mapping[str, Mapping] | None) -> list[str]:
    if not reports:
        return []
    columns = [c for c in REPORT_COLUMNS if any(c in report for report in reports.values())]
    rows = [
        [
            split,
            *(_number(report[c]) if c in report else "" for c in columns),
            report.get("num_questions", ""),
            f"{report['num_candidates']:g}" if "num_candidates" in report else "",
        ]
        for split, report in reports.items()
    ]
    return [
        "## In-batch evaluation",
        "",
        markdown_table(["split", *columns, "questions", "candidates per question"], rows),
        "",
        "These are Haystack v1's training report numbers: each question ranks only the passages of its "
        "evaluation batch (`candidates per question`), not a corpus. They compare runs with the same "
        "evaluation batch size and number of hard negatives, and say little about retrieval from a real "
        "corpus: see the corpus metrics for that.",
        "",
    ]


def _metrics_rows(corpus_metrics) -> dict[str, dict]:
    """name -> metrics from a dict name -> (metrics dict or CorpusResult), a comparison_table DataFrame, or a list
    of CorpusResults."""
    if hasattr(corpus_metrics, "to_dict") and hasattr(corpus_metrics, "index"):  # a DataFrame, one row per model
        return {str(name): dict(row) for name, row in corpus_metrics.to_dict(orient="index").items()}
    if isinstance(corpus_metrics, Mapping):
        return {str(name): dict(getattr(m, "metrics", m)) for name, m in corpus_metrics.items()}
    return {r.name: dict(r.metrics) for r in corpus_metrics}


CORPUS_METRIC = re.compile(r"top_(\d+)_accuracy|mrr_at_(\d+)|recall_at_(\d+)")


def _metric_order(name: str) -> tuple[int, int, str]:
    """questions, then top-k accuracy, MRR@k, recall@k with k ascending (corpus_eval's order), then the rest."""
    if name == "questions":
        return 0, 0, name
    match = CORPUS_METRIC.fullmatch(name)
    if match:
        kind = next(i for i, group in enumerate(match.groups()) if group)
        return kind + 1, int(match.group(kind + 1)), name
    return 4, 0, name


def _metric_cell(name: str, value) -> str:
    if value is None:
        return ""
    # comparison_table's DataFrame holds the question count as a float, like the metrics beside it.
    return str(int(value)) if name == "questions" else _number(value)


def _corpus_section(corpus_metrics) -> list[str]:
    rows = (
        {name: metrics for name, metrics in _metrics_rows(corpus_metrics).items() if metrics}
        if corpus_metrics is not None
        else {}
    )
    if not rows:
        return []
    names = sorted({metric for metrics in rows.values() for metric in metrics}, key=_metric_order)
    table = [[model, *(_metric_cell(m, metrics.get(m)) for m in names)] for model, metrics in rows.items()]
    return [
        "## Retrieval from a corpus",
        "",
        "Every question ranks every passage of the corpus, as in the DPR paper: top-k accuracy is the share of "
        "questions with a hit in their first k passages, MRR@k the mean of 1/rank of the first hit, recall@k "
        "the share of a question's gold passages in its first k (`dpr_nb.evaluation.corpus_eval`).",
        "",
        markdown_table(["model", *names], table),
        "",
    ]


def _figures_section(figure_names: Sequence[str]) -> list[str]:
    if not figure_names:
        return []
    lines = ["## Figures", ""]
    for name in figure_names:
        lines += [f"![{name}]({_figure_file(name)})", ""]
    return lines


def _usage_section(load_dir: str, embed_title: bool) -> list[str]:
    passage_text = 'the string `f"{title} [SEP] {text}"`' if embed_title else "their text"
    return [
        "## Usage",
        "",
        "```python",
        "from dpr_nb import DensePassageRetriever, InMemoryDocumentStore",
        "",
        "store = InMemoryDocumentStore()",
        f'retriever = DensePassageRetriever.load("{load_dir}", document_store=store)',
        'store.write_documents(documents)  # dpr_nb.Document(content=text, meta={"name": title})',
        "store.update_embeddings(retriever)",
        'best = retriever.retrieve("your question", top_k=10)',
        "```",
        "",
        "Or as sentence-transformers models (no dpr_nb needed to use them):",
        "",
        "```python",
        "from dpr_nb import export_sentence_transformers, export_single_sentence_transformer",
        "",
        'export_single_sentence_transformer(retriever, "one")  # one model: encode_query, encode_document',
        'export_sentence_transformers(retriever, "exported")  # two: exported/query and exported/passage',
        "```",
        "",
        f"Encode questions as queries (or with `exported/query`) and passages as documents (or with "
        f"`exported/passage`), as {passage_text}.",
        "",
    ]


# ---------------------------------------------------------------------------------------------------------------
# The Hub's metadata

LIBRARY_NAME = "dpr_nb"
# What a dense retriever's encoders do, as the Hub names it; sentence-transformers' cards name their retrieval results
# the same way.
PIPELINE_TAG = "feature-extraction"
TASK = ("information-retrieval", "Information Retrieval")
HUB_NAME = re.compile(r"[\w.-]+(/[\w.-]+)?")


def _hub_names(names) -> list[str]:
    """The names among `names` that can be models on the Hub: not a folder here, not dpr_nb's offline test model."""
    found = []
    for name in map(str, filter(None, names)):
        if name != TINY_MODEL and HUB_NAME.fullmatch(name) and not Path(name).exists() and name not in found:
            found.append(name)
    return found


def _data_name(config: TrainConfig, split: str) -> str:
    if is_builtin_data(config.data_dir):
        return "dpr_nb built-in dataset"
    filename = {"dev": config.dev_filename, "test": config.test_filename}.get(split) or config.train_filename
    return f"{Path(str(config.data_dir)).name}/{filename}" if filename else Path(str(config.data_dir)).name


def hub_metadata(retriever=None, *, config=None, history=None, datasets=None, model_name=None):
    """The card's metadata as huggingface_hub's ModelCardData.

    `base_model`: the models training started from, where they are Hub names (a local folder is no Hub model);
    `datasets`: Hub dataset names given, and the one an hf://datasets/... data_dir names; `eval_results`: the corpus
    metrics (top-k accuracy, MRR@k, recall@k: every question ranks the whole corpus) of each split's evaluation of
    the weights training kept. In-batch numbers are left out: they depend on the evaluation batch, not the model.
    """
    from huggingface_hub import EvalResult, ModelCardData

    config = config if config is not None else getattr(retriever, "train_config", None)
    history = history if history is not None else getattr(retriever, "history", None)
    results = []
    # Without the config, the data the numbers were measured on is unknown: no result to show then.
    evaluations = _last_evaluations(history) if config is not None else {}
    for split, record in evaluations.items():
        for metric, value in record.items():
            if CORPUS_METRIC.fullmatch(metric) and value is not None:
                results.append(
                    EvalResult(
                        task_type=TASK[0],
                        task_name=TASK[1],
                        dataset_type=str(config.data_dir),
                        dataset_name=_data_name(config, split),
                        dataset_split=split,
                        metric_type=metric,
                        metric_name=metric.replace("_", " "),
                        metric_value=float(value),
                    )
                )
    bases = _hub_names([config.query_model, config.passage_model]) if config is not None else []
    datasets = [datasets] if isinstance(datasets, str) else list(datasets or [])
    if config is not None and is_hub_path(config.data_dir):  # trained on a Hub dataset's files: the Hub links it
        repo_id = hub_dataset_parts(str(config.data_dir))[0]
        datasets += [repo_id] if repo_id not in datasets else []
    return ModelCardData(
        library_name=LIBRARY_NAME,
        pipeline_tag=PIPELINE_TAG,
        tags=["dpr_nb", "dense-passage-retrieval", "dpr"],
        base_model=(bases[0] if len(bases) == 1 else bases) or None,
        datasets=datasets or None,
        # The Hub needs a model name beside evaluation results.
        model_name=(model_name or "Dense Passage Retriever") if results else model_name,
        eval_results=results or None,
    )


# ---------------------------------------------------------------------------------------------------------------
# The card


def _figure_file(name: str) -> str:
    """The PNG file name of a figure: its name with anything but letters, digits, '.', '_' and '-' made '-'."""
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") + ".png"


def model_card(
    retriever=None,
    *,
    config: TrainConfig | None = None,
    history=None,
    reports: Mapping[str, Mapping] | None = None,
    corpus_metrics=None,
    figures=None,
    title: str | None = None,
    load_dir: str | Path | None = None,
    datasets=None,
) -> str:
    """The Markdown model card of a retriever, after its Hub metadata; every keyword overrides what the retriever
    itself recorded.

    - `config`, `history`, `reports`: default to `retriever.train_config`, `.history` and `.reports` (split ->
      in-batch report dict); without reports, each split's last evaluation in the history.
    - `corpus_metrics`: name -> metrics dict (CorpusResult.metrics) or CorpusResult, a comparison_table DataFrame,
      or a list of CorpusResults; default: the retriever's `corpus_results` from training with eval_corpus, or
      the corpus metrics of each split's last evaluation in the history.
    - `figures`: names (or a dict name -> Figure) linked as name.png; write_model_card saves the PNGs.
    - `load_dir`: the folder shown in the usage example (default: config.save_dir).
    - `datasets`: the Hub names of the datasets it was trained on, for the metadata (none are guessed).

        >>> print(model_card(retriever, corpus_metrics=comparison_table([bm25, dense])))   # doctest: +SKIP
    """
    config = config if config is not None else getattr(retriever, "train_config", None)
    history = history if history is not None else getattr(retriever, "history", None)
    # A reloaded retriever has no reports or corpus results, but its history holds each evaluation's numbers.
    reports = reports or getattr(retriever, "reports", None) or _last_evaluations(history)
    if corpus_metrics is None:
        corpus_metrics = getattr(retriever, "corpus_results", None) or {
            split: {name: value for name, value in record.items() if CORPUS_METRIC.fullmatch(name)}
            for split, record in _last_evaluations(history).items()
        }
    load_dir = load_dir or (config.save_dir if config and config.save_dir else "path/to/this/folder")
    embed_title = getattr(retriever, "embed_title", config.embed_title if config else True)
    metadata = hub_metadata(retriever, config=config, history=history, datasets=datasets, model_name=title)
    lines = [
        "---",
        metadata.to_yaml(),
        "---",
        "",
        f"# {title or 'Dense Passage Retriever'}",
        "",
        "A Dense Passage Retrieval model (Karpukhin et al., 2020) trained with `dpr_nb`.",
        "",
    ]
    lines += _model_section(retriever, config)
    lines += _data_section(config)
    lines += _training_section(history)
    lines += _reports_section(reports)
    lines += _corpus_section(corpus_metrics)
    lines += _figures_section(list(figures or []))
    lines += _usage_section(str(load_dir), embed_title)
    lines += _config_section(config)
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Writing


def _training_figure(history) -> dict:
    """{"training": plot_training(history)} when the history has steps and dpr_nb.evaluation.plots is available, else
    {}."""
    if not _history_values(history).get("steps"):
        return {}
    try:
        from ..evaluation.plots import plot_training  # imported here: plots (and matplotlib) stay optional for the card
    except ImportError:
        return {}
    return {"training": plot_training(history)}


def write_model_card(
    folder: str | Path, retriever, corpus_metrics=None, figures: Mapping | None = None, **card_options
) -> Path:
    """Write folder/README.md (and each figure as folder/<name>.png) for `retriever`; returns the README's path.

    `figures`: name -> matplotlib Figure. None: the training curve (dpr_nb.evaluation.plots.plot_training) when the
    retriever has a training history. Every file is written to a temporary file first and renamed, so an older card is
    replaced whole. `card_options` go to model_card (config=, history=, reports=, title=, load_dir=). Call it
    after retriever.save(folder): save replaces the whole folder.

        >>> table = comparison_table([bm25, dense])                                   # doctest: +SKIP
        >>> write_model_card("saved_models/dpr", retriever, corpus_metrics=table)     # doctest: +SKIP
        PosixPath('saved_models/dpr/README.md')
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if figures is None:
        figures = _training_figure(card_options.get("history", getattr(retriever, "history", None)))
    # Figures first: the README never links an image that is not there yet.
    for name, figure in figures.items():
        write_atomic(folder / _figure_file(name), lambda path, f=figure: f.savefig(path, format="png", dpi=150))
    card_options.setdefault("load_dir", folder)
    card = model_card(retriever, corpus_metrics=corpus_metrics, figures=list(figures), **card_options)
    readme = folder / README
    write_atomic(readme, lambda path: path.write_text(card, encoding="utf-8"))
    return readme
