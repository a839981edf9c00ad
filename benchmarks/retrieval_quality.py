"""Retrieval quality after fine-tuning with the same budget: dpr_nb against sentence-transformers, BM25 and the
untrained model, on held-out XQuAD articles with real Wikipedia passages pooled in as distractors.

    python benchmarks/retrieval_quality.py                         # English and German, 1 epoch each
    python benchmarks/retrieval_quality.py --languages en --max-train-questions 32 --dpr-nb two   # a quick check
    python benchmarks/retrieval_quality.py --languages de --dpr-nb two shared "shared learning_rate=2e-5"
    python benchmarks/retrieval_quality.py --languages de --seeds 42 43 44   # the mean and spread of 3 runs each
    python benchmarks/retrieval_quality.py --languages de --dpr-nb two --sentence-transformers two   # two encoders each
    python benchmarks/retrieval_quality.py --combine run1.json run2.json     # one table over two runs' seeds

For each language: XQuAD's 48 articles split by article (dpr_nb.tools.squad.convert_squad, seed 0, the same articles in
every language: XQuAD's languages are translations of one another), 20% of the articles held out. Training: the
other articles' questions, each with its paragraph and 1 BM25 hard negative without the answer. The corpus every
question ranks: all 240 paragraphs of that language plus the ~2,800 passages of ../shared/data/dpr-samples (English
Wikipedia passages from DPR's NQ and SQuAD dev records) as distractors. A hit is the question's own paragraph.

The same budget for every fine-tuned model: all-MiniLM-L6-v2, --epochs over the same questions, batch 16, the 15
other questions' passages and 1 hard negative as negatives, the same seed (--seeds: each seed trains every
model once, and the table shows each figure's mean over the seeds with its lowest and highest). Within it, each
tool trains as its user would be told to:

- BM25: bm25s over title and text (dpr_nb.evaluation.corpus_eval.evaluate_corpus_bm25).
- untrained: the checkpoint as it is, read by dpr_nb with its declared mean pooling and normalisation.
- dpr_nb: DensePassageRetriever.train with TrainConfig's defaults for everything else (for this checkpoint: cosine
  similarity, temperature 0.05, learning rate, warm-up) but share_encoders=False: DPR's two encoders (questions and
  passages trained apart).
- dpr_nb, shared: the same with share_encoders=True: one encoder, as sentence-transformers trains. TrainConfig's
  default (share_encoders=None) trains this checkpoint so, since it compares by cosine (it normalises its vectors).
- sentence-transformers: SentenceTransformerTrainer with MultipleNegativesRankingLoss (scale 20) on (anchor,
  positive, negative), the recipe of its training examples: AdamW at --learning-rate (2e-5), linear warm-up over
  the first 10% of the steps, linear decay; passages as "title [SEP] text" in training and retrieval, ranked by its
  own encode.
- sentence-transformers, two encoders: the same with its own way to two encoders, a Router with a copy of the
  checkpoint for queries and one for documents (router_mapping sends anchors to the first, positives and negatives
  to the second; ranked by encode_query and encode_document): the like-for-like peer of dpr_nb's "two".

--dpr-nb lists dpr_nb's variants: "two" or "shared", then any TrainConfig settings to change, as dpr-nb train's
--set takes them ("two num_warmup_steps=6 learning_rate=2e-5"): how a default is chosen from a measurement.
--sentence-transformers lists its own: "shared" (its default) and "two".

Every ranking is scored by the same function (top-k accuracy, MRR@10). The target compares every dpr_nb row with
every sentence-transformers row on the seeds both trained: the mean of the seeds' differences, printed with its
standard error, which tells a gap from one seed's draw. Each figure is "ahead" where that mean is more than two
standard errors above zero, "behind" where it is more than two below, else "level"; the target, dpr_nb at least
level, is met where it is ahead or level. One seed gives no standard error: its difference is printed but not
judged (target_met null). Each row shows the learning rate its runs used (dpr_nb's, when left to TrainConfig, as
the checkpoint resolves it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import DPR_SAMPLES, MINILM, print_table, write_json, xquad_dpr

BATCH_SIZE = 16
KS = (1, 5, 10, 20)
TARGET_METRICS = ("top_1_accuracy", "top_5_accuracy", "top_20_accuracy", "mrr_at_10")
COLUMNS = [
    ("model", "model", ""),
    ("seeds", "seeds", ""),
    ("learning_rate", "learning rate", ""),
    ("top_1_accuracy", "top-1", ".3f"),
    ("top_5_accuracy", "top-5", ".3f"),
    ("top_20_accuracy", "top-20", ".3f"),
    ("mrr_at_10", "MRR@10", ".3f"),
    ("train_minutes", "training min", ".1f"),
]


def distractors() -> list:
    from dpr_nb.evaluation.corpus_eval import load_corpus

    passages = [p for source in sorted(DPR_SAMPLES.glob("*.json*")) for p in load_corpus(source)]
    return list({p.key: p for p in passages}.values())


def parse_variant(variant: str) -> tuple[str, list[str]]:
    """ "shared learning_rate=2e-5" -> ("shared", ["learning_rate=2e-5"])."""
    encoders, *settings = variant.split()
    if encoders not in ("two", "shared"):
        raise SystemExit(f"--dpr-nb {variant!r}: a variant starts with 'two' or 'shared'")
    return encoders, settings


def variant_name(variant: str) -> str:
    """ "shared learning_rate=2e-5" -> "dpr_nb, shared (learning_rate=2e-5)"."""
    encoders, settings = parse_variant(variant)
    return ("dpr_nb, shared" if encoders == "shared" else "dpr_nb") + (f" ({' '.join(settings)})" if settings else "")


def train_dpr_nb(model: str, data_dir: Path, args, variant: str, seed: int, callbacks: dict | None = None):
    from dpr_nb import DensePassageRetriever, TrainConfig

    encoders, settings = parse_variant(variant)
    retriever = DensePassageRetriever(query_embedding_model=model, passage_embedding_model=model, progress_bar=False)
    # The budget, the same for every tool; everything else is TrainConfig's default unless the variant sets it.
    config = TrainConfig(
        data_dir=str(data_dir),
        train_filename="train.json",
        max_samples=args.max_train_questions,
        batch_size=BATCH_SIZE,
        num_hard_negatives=1,
        n_epochs=args.epochs,
        evaluate_every=0,
        save_dir=None,
        share_encoders=encoders == "shared",
        seed=seed,
    ).with_settings(settings)
    retriever.train(config=config, callbacks=callbacks)
    return retriever


def retriever_examples(data_dir: Path, args) -> list:
    from dpr_nb.data.dpr_file import load_dpr_file

    examples = load_dpr_file(data_dir / "train.json")
    return examples[: args.max_train_questions] if args.max_train_questions else examples


SENTENCE_TRANSFORMERS_ROWS = {"shared": "sentence-transformers", "two": "sentence-transformers, two encoders"}


def sentence_transformers_model(model_name: str, encoders: str):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Router

    if encoders == "shared":
        model = SentenceTransformer(model_name)
        model.max_seq_length = 256
        return model
    query, document = SentenceTransformer(model_name), SentenceTransformer(model_name)  # two copies, trained apart
    query.max_seq_length = document.max_seq_length = 256
    router = Router.for_query_document(query_modules=list(query.children()), document_modules=list(document.children()))
    return SentenceTransformer(modules=[router])


def train_sentence_transformers(
    model_name: str,
    data_dir: Path,
    args,
    seed: int,
    encoders: str = "shared",
    max_steps: int | None = None,
    clock=None,
):
    """`max_steps` (over as many epochs as they take) instead of args.epochs; `clock.start()` as training begins
    and `clock.mark()` after every optimizer step (equal_time_quality.Clock)."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    model = sentence_transformers_model(model_name, encoders)
    examples = retriever_examples(data_dir, args)
    dataset = Dataset.from_dict(
        {
            "anchor": [e.question for e in examples],
            "positive": [as_text(e.positives[0]) for e in examples],
            "negative": [as_text(e.hard_negatives[0]) for e in examples],
        }
    )
    with tempfile.TemporaryDirectory() as output_dir:
        arguments = SentenceTransformerTrainingArguments(
            output_dir=output_dir,
            per_device_train_batch_size=BATCH_SIZE,
            num_train_epochs=args.epochs,
            max_steps=max_steps or -1,
            learning_rate=args.learning_rate,
            warmup_steps=0.1,
            lr_scheduler_type="linear",
            max_grad_norm=2.0,
            seed=seed,
            logging_strategy="no",
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_drop_last=True,
            # The shared model has one route; a Router sends questions to its query encoder, passages to the other.
            router_mapping={"anchor": "query", "positive": "document", "negative": "document"}
            if encoders == "two"
            else {},
        )

        class Timing(TrainerCallback):
            def on_train_begin(self, *_, **__):
                clock.start()

            def on_step_end(self, *_, **__):
                clock.mark()

        SentenceTransformerTrainer(
            model=model,
            args=arguments,
            train_dataset=dataset,
            loss=MultipleNegativesRankingLoss(model, scale=20.0),
            callbacks=[Timing()] if clock else None,
        ).train()
    return model


def as_text(passage) -> str:
    return f"{passage.title} [SEP] {passage.text}"


def evaluate_sentence_transformers(model, examples, corpus):
    from dpr_nb.evaluation.corpus_eval import score_ranking

    # encode_query/encode_document pick a Router's route; on the shared model they are encode.
    questions = model.encode_query([e.question for e in examples], normalize_embeddings=True)  # (questions, dim)
    passages = model.encode_document([as_text(p) for p in corpus], batch_size=32, normalize_embeddings=True)
    return score_ranking("sentence-transformers", examples, corpus, questions @ passages.T, KS, "id")  # (q, corpus)


def run_language(language: str, folder: Path, args) -> list[dict]:
    from dpr_nb import DensePassageRetriever
    from dpr_nb.data.dpr_file import load_dpr_file
    from dpr_nb.evaluation.corpus_eval import evaluate_corpus, evaluate_corpus_bm25, load_corpus
    from dpr_nb.training.trainer import resolve_learning_rate

    data_dir, counts = xquad_dpr(language, folder / language, test_fraction=0.2)
    test = load_dpr_file(data_dir / "test.json")
    corpus = load_corpus(data_dir / "passages.tsv") + distractors()
    print(
        f"\nXQuAD {language}: {len(retriever_examples(data_dir, args))} training questions "
        f"({counts['train']['articles']} articles), {len(test)} held-out questions ({counts['test']['articles']} "
        f"articles); corpus {len(corpus)} passages",
        flush=True,
    )
    rows = []

    def add(name, result, minutes=None, seed=None, learning_rate=None):
        rows.append(
            {"model": name, "seed": seed, "learning_rate": learning_rate, **result.metrics, "train_minutes": minutes}
        )
        print(
            f"  {name}" + (f", seed {seed}" if seed is not None else "") + f": top-1 "
            f"{result.metrics['top_1_accuracy']:.3f}, top-20 {result.metrics['top_20_accuracy']:.3f}, MRR@10 "
            f"{result.metrics['mrr_at_10']:.3f}" + (f" ({minutes:.1f} min training)" if minutes else ""),
            flush=True,
        )

    add("BM25", evaluate_corpus_bm25(test, corpus, ks=KS))
    untrained = DensePassageRetriever(
        query_embedding_model=args.model, passage_embedding_model=args.model, progress_bar=False
    )
    add("untrained", evaluate_corpus(untrained, test, corpus, ks=KS, batch_size=32))
    for seed in args.seeds:
        for variant in args.dpr_nb:
            started = time.perf_counter()
            retriever = train_dpr_nb(args.model, data_dir, args, variant, seed)
            minutes = (time.perf_counter() - started) / 60
            # The rate the run used, not the setting: a default that follows the checkpoint is resolved here.
            learning_rate = resolve_learning_rate(retriever.train_config, retriever.model)
            metrics = evaluate_corpus(retriever, test, corpus, ks=KS, batch_size=32)
            add(variant_name(variant), metrics, minutes, seed, learning_rate)
        for encoders in args.sentence_transformers:
            started = time.perf_counter()
            model = train_sentence_transformers(args.model, data_dir, args, seed, encoders)
            minutes = (time.perf_counter() - started) / 60
            metrics = evaluate_sentence_transformers(model, test, corpus)
            add(SENTENCE_TRANSFORMERS_ROWS[encoders], metrics, minutes, seed, args.learning_rate)
    return rows


def over_seeds(rows: list[dict]) -> list[dict]:
    """One row per model: each figure's mean over its seeds, with the lowest and highest as "low"/"high" keys.

    >>> over_seeds([{"model": "a", "seed": 1, "top_1_accuracy": 0.5}, {"model": "a", "seed": 2, "top_1_accuracy": 0.7}])
    [{'model': 'a', 'seeds': 2, 'top_1_accuracy': 0.6, 'top_1_accuracy low': 0.5, 'top_1_accuracy high': 0.7}]
    """
    by_model: dict[str, list[dict]] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(row)
    summary = []
    for model, runs in by_model.items():
        row = {"model": model, "seeds": len(runs) if runs[0]["seed"] is not None else None}  # BM25: no seed
        for key, value in runs[0].items():
            if key in ("model", "seed") or not isinstance(value, (int, float)):
                continue
            values = [run[key] for run in runs]
            row[key] = round(statistics.fmean(values), 6)
            if len(runs) > 1:
                row[f"{key} low"], row[f"{key} high"] = min(values), max(values)
        summary.append(row)
    return summary


def paired(rows: list[dict], ours: str, theirs: str) -> dict:
    """Seed by seed, `ours` minus `theirs` on the seeds that trained both: each target figure's mean difference and
    its standard error (None from one seed), accuracies in questions. Each seed's draw moves both tools' figures by
    several questions; the difference on the same seeds is what tells a gap from the draw.

    >>> rows = [{"model": m, "seed": s, "questions": 200, "top_1_accuracy": a, "top_5_accuracy": 0.9,
    ...          "top_20_accuracy": 0.9, "mrr_at_10": 0.7} for m, s, a in
    ...         [("a", 1, 0.51), ("b", 1, 0.50), ("a", 2, 0.52), ("b", 2, 0.50), ("a", 3, 0.5)]]
    >>> paired(rows, "a", "b")["top_1_accuracy"]
    {'seeds': 2, 'mean': 3.0, 'standard_error': 1.0, 'unit': 'questions'}
    >>> paired(rows, "a", "c")
    {}
    """
    runs = {(row["model"], row["seed"]): row for row in rows}
    seeds = sorted(seed for model, seed in runs if model == ours and (theirs, seed) in runs)
    if not seeds:
        return {}
    differences = {}
    for metric in TARGET_METRICS:
        in_questions = metric != "mrr_at_10"
        values = [
            (runs[ours, seed][metric] - runs[theirs, seed][metric])
            * (runs[ours, seed]["questions"] if in_questions else 1)
            for seed in seeds
        ]
        differences[metric] = {
            "seeds": len(seeds),
            "mean": round(statistics.fmean(values), 6) + 0.0,  # + 0.0: no "-0.0"
            "standard_error": round(statistics.stdev(values) / len(values) ** 0.5, 6) if len(values) > 1 else None,
            "unit": "questions" if in_questions else "MRR@10",
        }
    return differences


def standing(d: dict) -> str | None:
    """One of paired's figures judged by its standard error: "ahead" where the mean difference is more than two
    standard errors above zero, "behind" where it is more than two below, else "level". None from one seed: with no
    standard error, a difference cannot be told from the seed's draw (which moves a tool by several questions).

    >>> standing({"mean": -0.2, "standard_error": 0.6}), standing({"mean": 0.1, "standard_error": 0.01})
    ('level', 'ahead')
    >>> standing({"mean": -3.0, "standard_error": 0.5}), standing({"mean": -1.0, "standard_error": None})
    ('behind', None)
    """
    if d["standard_error"] is None:
        return None
    if d["mean"] > 2 * d["standard_error"]:
        return "ahead"
    if d["mean"] < -2 * d["standard_error"]:
        return "behind"
    return "level"


def target_met(d: dict) -> bool | None:
    """The target on one of paired's figures: dpr_nb at least level, so met when ahead or level; None when not
    judged (one seed).

    >>> target_met({"mean": -0.2, "standard_error": 0.6}), target_met({"mean": -3.0, "standard_error": 0.5})
    (True, False)
    """
    found = standing(d)
    return None if found is None else found in ("ahead", "level")


def difference(d: dict) -> str:
    """One of paired's figures as text: "+1.0 (0.8) questions", "-0.0106 (0.0048) MRR@10", "+3.0 (one seed) ..."."""
    digits = 1 if d["unit"] == "questions" else 4
    spread = "one seed" if d["standard_error"] is None else f"{d['standard_error']:.{digits}f}"
    return f"{d['mean']:+.{digits}f} ({spread}) {d['unit']}"


def with_spread(row: dict) -> dict:
    """The table's cells: "0.643 (0.638-0.652)" where a figure has a spread over seeds."""
    cells = dict(row)
    for key, _, spec in COLUMNS:
        if spec and f"{key} low" in row:
            cells[key] = f"{row[key]:{spec}} ({row[f'{key} low']:{spec}}-{row[f'{key} high']:{spec}})"
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(MINILM))
    parser.add_argument("--languages", nargs="+", default=["en", "de"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument(
        "--learning-rate", type=float, default=2e-5, help="sentence-transformers' (dpr_nb's is TrainConfig's)"
    )
    parser.add_argument("--max-train-questions", type=int, default=None, help="train on the first N questions only")
    parser.add_argument(
        "--dpr-nb",
        nargs="*",
        default=["two", "shared"],
        help="dpr_nb's variants: 'two' (DPR's two encoders) or 'shared' (share_encoders=True), each optionally "
        'followed by TrainConfig settings: "shared learning_rate=2e-5"',
    )
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=[42], help="train every model once per seed; the table shows the mean"
    )
    parser.add_argument(
        "--sentence-transformers",
        nargs="+",
        choices=sorted(SENTENCE_TRANSFORMERS_ROWS),
        default=["shared"],
        help="sentence-transformers' variants: 'shared' (its default, one model) and 'two' (a Router, two encoders)",
    )
    parser.add_argument(
        "--no-sentence-transformers",
        action="store_true",
        help="train dpr_nb's variants only (comparing its settings), no target check",
    )
    parser.add_argument(
        "--combine",
        nargs="+",
        metavar="JSON",
        help="train nothing: one table over the seeds of earlier runs' JSON files (the same budget in each)",
    )
    parser.add_argument("--json", default=None, help="default: benchmarks/results/retrieval_quality.json")
    args = parser.parse_args()
    if args.no_sentence_transformers:
        args.sentence_transformers = []
    if args.combine:
        settings, results = combine([json.loads(Path(path).read_text(encoding="utf-8")) for path in args.combine])
    else:
        settings = {
            "model": args.model,
            "epochs": args.epochs,
            "learning_rate": args.learning_rate,
            "batch_size": BATCH_SIZE,
            "max_train_questions": args.max_train_questions,
            "dpr_nb_variants": args.dpr_nb,
            "sentence_transformers_variants": args.sentence_transformers,
            "seeds": args.seeds,
        }
        results = {}
        with tempfile.TemporaryDirectory() as folder:
            for language in args.languages:
                results[language] = run_language(language, Path(folder), args)
    report(settings, results, args.json)


# What makes two runs' figures comparable: the same budget.
BUDGET = ("model", "epochs", "learning_rate", "batch_size", "max_train_questions")


def combine(runs: list[dict]) -> tuple[dict, dict]:
    """The settings and per-seed rows of several runs as one run's: a model's row for a seed it already has (BM25
    and the untrained model, the same in every run) is kept once."""
    first = runs[0]
    for run in runs[1:]:
        if any(run[key] != first[key] for key in BUDGET):
            raise SystemExit(f"--combine: runs with different budgets ({', '.join(BUDGET)}) do not add up")
    settings = {key: first[key] for key in BUDGET}
    settings["dpr_nb_variants"] = list(dict.fromkeys(v for run in runs for v in run["dpr_nb_variants"]))
    # Runs from before the setting was recorded trained sentence-transformers' default or nothing: read the rows.
    trained = {row["model"] for run in runs for rows in run["results"].values() for row in rows}
    settings["sentence_transformers_variants"] = [
        v for v, name in SENTENCE_TRANSFORMERS_ROWS.items() if name in trained
    ]
    settings["seeds"] = sorted({seed for run in runs for seed in run["seeds"]})
    results: dict[str, list[dict]] = {}
    for run in runs:
        for language, rows in run["results"].items():
            kept = results.setdefault(language, [])
            seen = {(row["model"], row["seed"]) for row in kept}
            kept.extend(row for row in rows if (row["model"], row["seed"]) not in seen)
    return settings, results


def report(settings: dict, results: dict[str, list[dict]], path: str | None) -> None:
    """Print each language's table (mean and spread over the seeds) and the target, and write the JSON."""
    summaries = {language: over_seeds(rows) for language, rows in results.items()}
    tables = {}
    seeds = settings["seeds"]
    for language, rows in summaries.items():
        over = f", mean over seeds {seeds} (lowest-highest)" if len(seeds) > 1 else f", seed {seeds[0]}"
        print(f"\nXQuAD {language}, held-out articles, {rows[0]['questions']:.0f} questions{over}:\n")
        tables[language] = print_table([with_spread(row) for row in rows], COLUMNS)
    standings, verdicts, differences = {}, {}, {}
    for language, rows in summaries.items():
        by_name = {row["model"]: row for row in rows}
        # Every dpr_nb row (its defaults and whatever variants the run compared) against every sentence-transformers
        # row: its default (one model) and, where run, its own two encoders, the like-for-like peer of DPR's two.
        pairs = [
            (ours, theirs)
            for ours in by_name
            if ours.startswith("dpr_nb")
            for theirs in SENTENCE_TRANSFORMERS_ROWS.values()
            if theirs in by_name
        ]
        # Judged on the seeds both trained: a mean over other seeds would hold a different draw.
        differences[language] = {
            f"{ours} against {theirs}": found
            for ours, theirs in pairs
            if (found := paired(results[language], ours, theirs))
        }
        standings[language] = {
            name: {metric: standing(found[metric]) for metric in TARGET_METRICS}
            for name, found in differences[language].items()
        }
        verdicts[language] = {
            name: {metric: target_met(found[metric]) for metric in TARGET_METRICS}
            for name, found in differences[language].items()
        }
        for name, found in differences[language].items():
            print(
                f"\n{language}, {name}, on the {found['top_1_accuracy']['seeds']} seeds both trained, mean difference "
                "(standard error): "
                + ", ".join(f"{metric} {difference(d)} {standing(d) or 'not judged'}" for metric, d in found.items())
            )
    print(
        f"\ntarget: each dpr_nb row at least level with sentence-transformers on {TARGET_METRICS}, on the seeds both "
        "trained (level: within two standard errors of zero; ahead or behind: beyond them; one seed: not judged): "
        f"{standings}; met: {verdicts}"
    )
    write_json(
        "retrieval_quality",
        {
            **settings,
            "target_met": verdicts,
            "standing": standings,
            "paired_differences": differences,
            "tables": tables,
            "means": summaries,
            "results": results,
        },
        path,
    )


if __name__ == "__main__":
    main()
