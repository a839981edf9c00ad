"""`dpr-nb eval`: a model's retrieval over a whole corpus against BM25 (in memory with --corpus, through a FAISS
index with --index), else the in-batch report."""

from __future__ import annotations

import argparse

from .arguments import ks_list, positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="retrieval from a corpus against BM25, or the in-batch report")
    parser.add_argument(
        "--model",
        required=True,
        help="a folder saved by training (or by Haystack v1), or a model dpr-nb push published",
    )
    parser.add_argument(
        "--questions",
        "--data",
        required=True,
        help="a DPR file of questions and gold passages, a BEIR folder (its test split) or a qrels file in one "
        "(FOLDER/qrels/dev.tsv)",
    )
    parser.add_argument(
        "--corpus",
        default=None,
        help="a passages TSV (id, text, title), DPR file or BEIR folder to rank in full; without it, the in-batch "
        "report (a BEIR folder's questions: its own corpus)",
    )
    parser.add_argument(
        "--index",
        default=None,
        metavar="INDEX_DIR",
        help="rank with this FAISS index (made by `dpr-nb index`) instead of embedding the "
        "corpus in memory; --corpus then only feeds BM25",
    )
    parser.add_argument("--ks", default="1,5,20,100", type=ks_list, help="the k of top-k accuracy, MRR@k and recall@k")
    parser.add_argument(
        "--match",
        choices=("id", "answer", "either"),
        default="id",
        help="a hit is the gold passage (id), a passage containing an answer, or either",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="MODEL",
        help="another saved folder or model name in the same table, e.g. the untrained base",
    )
    parser.add_argument("--no-bm25", action="store_true", help="leave out the BM25 baseline")
    parser.add_argument(
        "--bm25-k1", type=float, default=None, help="BM25's term-frequency saturation (default 1.5; the DPR paper: 0.9)"
    )
    parser.add_argument(
        "--bm25-b", type=float, default=None, help="BM25's length normalisation (default 0.75; the DPR paper: 0.4)"
    )
    parser.add_argument(
        "--measures",
        default=None,
        help="standard IR measures through ir_measures, e.g. nDCG@10,AP@100,R@1000 (default: nDCG@10 and AP at the "
        "largest k, where ir_measures is installed)",
    )
    parser.add_argument("--trec-run", default=None, metavar="FILE", help="also write the model's ranking as a TREC run")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="in-batch report: questions per batch")
    parser.add_argument("--num-hard-negatives", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.set_defaults(run=run, outputs=outputs)


def outputs(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    return [(path, option, True) for path, option in ((args.json, "--json"), (args.trec_run, "--trec-run")) if path]


def run(args: argparse.Namespace) -> int:
    """Full-corpus retrieval against BM25 (with --corpus or --index), else the in-batch report."""
    import json

    from ..core.files import write_text_atomic
    from ..data.beir import beir_split
    from ..data.splits import load_questions
    from ..evaluation.report import format_report, report_numbers
    from .arguments import open_retriever, quiet_transformers

    quiet_transformers()
    beir = beir_split(args.questions)
    if beir and not args.corpus and not args.index:  # a BEIR dataset is its questions and the corpus they rank
        args.corpus = str(beir[0])
    retriever = open_retriever(args.model)
    if args.index:
        return evaluate_with_index(args, retriever)
    if not args.corpus:
        report = retriever.evaluate(
            args.questions, batch_size=args.batch_size, num_hard_negatives=args.num_hard_negatives
        )
        print(format_report(report, f"{args.model} on {args.questions}:"))
        values = report_numbers(report)
        values["classes"] = report["report"].to_dict(orient="index")
    else:
        from ..evaluation.corpus_eval import comparison_table, evaluate_corpus, evaluate_corpus_bm25, load_corpus

        examples, corpus = load_questions(args.questions), load_corpus(args.corpus)
        ks = args.ks  # ascending, each at least 1 (ks_list)
        results = [evaluate_corpus(retriever, examples, corpus, ks, args.match, name=args.model)]
        for other in args.compare:
            results.append(
                evaluate_corpus(open_retriever(other, like=retriever), examples, corpus, ks, args.match, name=other)
            )
        if not args.no_bm25:
            results.append(evaluate_corpus_bm25(examples, corpus, ks, args.match, **bm25_settings(args)))
        add_standard_measures(args, examples, [(result, corpus) for result in results])
        if args.trec_run:
            from ..evaluation.trec import write_trec_run

            write_trec_run(args.trec_run, results[0], corpus, examples=examples)
        table = comparison_table(results)
        print(
            f"{len(examples)} questions of {args.questions}, each ranking all {len(corpus)} passages of "
            f"{args.corpus}; a hit is {'the gold passage' if args.match == 'id' else 'a passage with an answer'}"
            f"{' or the gold passage' if args.match == 'either' else ''}:\n"
        )
        print(table.drop(columns="questions").to_string(float_format=lambda v: f"{v:.4f}"))
        print_bm25_settings(results)
        values = {
            "questions": args.questions,
            "corpus": args.corpus,
            "match": args.match,
            "results": {r.name: r.metrics for r in results},
            "settings": {r.name: r.settings for r in results if r.settings},
        }
    if args.json:
        write_text_atomic(args.json, json.dumps(values, indent=2))
    return 0


def evaluate_with_index(args: argparse.Namespace, retriever) -> int:
    """`dpr-nb eval --index`: the model's ranking comes from a prebuilt FAISS index (BM25 only with --corpus)."""
    import json

    import numpy as np

    from ..core.errors import SettingsError
    from ..core.files import write_text_atomic
    from ..data.documents import document_passage
    from ..data.splits import load_questions
    from ..evaluation.corpus_eval import comparison_table, evaluate_corpus_bm25, load_corpus
    from ..search.faiss_store import FAISSDocumentStore, evaluate_index

    if args.compare:
        raise SettingsError(
            "--compare with --index: another model needs its own index. Evaluate each model with "
            "`dpr-nb eval --model MODEL --index ITS_INDEX`, or compare in memory with --corpus."
        )
    examples, store = load_questions(args.questions), FAISSDocumentStore.load(args.index)
    ks = args.ks  # ascending, each at least 1 (ks_list)
    results = [evaluate_index(retriever, examples, store, ks, args.match, name=args.model)]
    ranked = [(results[0], map(document_passage, store.iter_documents()))]  # the store's passages, in index order
    if args.corpus and not args.no_bm25:
        corpus = load_corpus(args.corpus)
        results.append(evaluate_corpus_bm25(examples, corpus, ks, args.match, **bm25_settings(args)))
        ranked.append((results[-1], corpus))
    add_standard_measures(args, examples, ranked)
    if args.trec_run:
        from ..evaluation.trec import write_trec_run

        positions = np.unique(results[0].top_indices[results[0].top_indices >= 0])
        found = dict(zip(positions.tolist(), map(document_passage, store.get_documents_by_position(positions))))
        write_trec_run(args.trec_run, results[0], found, examples=examples)
    print(
        f"{len(examples)} questions of {args.questions}, each ranking the {store.get_document_count()} passages "
        f"of the {store.index_type} index {args.index}:\n"
    )
    print(comparison_table(results).drop(columns="questions").to_string(float_format=lambda v: f"{v:.4f}"))
    print_bm25_settings(results)
    if args.json:
        values = {
            "questions": args.questions,
            "index": args.index,
            "index_type": store.index_type,
            "match": args.match,
            "results": {r.name: r.metrics for r in results},
            "settings": {r.name: r.settings for r in results if r.settings},
        }
        write_text_atomic(args.json, json.dumps(values, indent=2))
    return 0


def bm25_settings(args: argparse.Namespace) -> dict:
    """The k1 and b given on the command line; the ones left out keep evaluate_corpus_bm25's defaults."""
    return {name: value for name, value in (("k1", args.bm25_k1), ("b", args.bm25_b)) if value is not None}


def print_bm25_settings(results) -> None:
    """Under the table, the BM25 parameters its row used, beside the DPR paper's."""
    from ..evaluation.corpus_eval import DPR_PAPER_BM25

    for result in results:
        if result.settings:
            used = ", ".join(f"{name}={value:g}" for name, value in result.settings.items())
            paper = " ".join(f"--bm25-{name} {value:g}" for name, value in DPR_PAPER_BM25.items())
            print(f"\n{result.name}: {used} (the DPR paper's baseline: {paper})")


def add_standard_measures(args: argparse.Namespace, examples, ranked) -> None:
    """nDCG, MAP, ... (ir_measures) added to the metrics of each (result, the corpus it ranked) in `ranked`: those
    --measures names, else nDCG@10 and AP at the largest k where ir_measures is installed (a line says how to get
    them where it is not). In memory and through an index alike, so the two give the same table."""
    import importlib.util

    from ..evaluation.trec import default_measures, measure_key, standard_measures

    if args.measures is None and importlib.util.find_spec("ir_measures") is None:
        print("(nDCG@10 and MAP too: pip install ir-measures)")
        return
    measures = args.measures.split(",") if args.measures else default_measures(args.ks)
    try:
        for measure in measures:
            measure_key(measure)
    except ValueError as error:
        from ..core.errors import SettingsError

        raise SettingsError(f"--measures {error}") from None
    for result, corpus in ranked:
        result.metrics.update(standard_measures(result, examples, corpus, measures))
