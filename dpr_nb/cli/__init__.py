"""The `dpr-nb` command.

dpr-nb demo                              train a tiny DPR model on the built-in dataset, report before/after,
                                         save, reload, retrieve
dpr-nb train --preset NAME | --config FILE [--set key=value ...] [--resume | --restart]
                                         train as the Python API does (also under torchrun); writes the model,
                                         train_config.json and history.json to save_dir
dpr-nb eval --model DIR --questions FILE --corpus FILE [--compare MODEL]
                                         top-k accuracy, MRR@k and recall@k over a whole corpus, with BM25
                                         in the same table (without --corpus: the in-batch report)
dpr-nb index --model DIR --corpus passages.tsv --out INDEX_DIR [--index hnsw|ivfpq|flat]
                                         encode a corpus of any size to disk (resumable, sharded under
                                         torchrun), then build a FAISS index of it
dpr-nb eval --model DIR --questions FILE --index INDEX_DIR
                                         the same metrics, ranked by a FAISS index
dpr-nb fetch [nq-dev nq-train wikipedia-passages xquad-en xquad-de] [--data-dir DIR] [--models NAME ...] [--no-models]
                                         download DPR's files (resumable) and the presets' models into the caches,
                                         so that everything then runs offline (HF_HUB_OFFLINE=1)
dpr-nb data stats PATH                   counts and text lengths of a DPR file, streaming
dpr-nb data subset IN OUT --n N [--seed S]   the first (or a seeded random) N questions in a small file
dpr-nb data mine --model DIR IN OUT      hard negatives mined with a trained model
dpr-nb data records FILE [--out FOLDER]  a DPR file's records copied to disk once, read by position in training
                                         (TrainConfig.records_on_disk)
dpr-nb data convert-squad IN OUT_DIR     a SQuAD/XQuAD file as DPR train/dev/test files with BM25 hard
                                         negatives and a passages.tsv corpus, split by article
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def demo(save_dir: str = "saved_models/dpr-demo", n_epochs: int | None = None, seed: int = 42) -> dict:
    """The whole tutorial in miniature, on the CPU, with nothing to download. Returns the two reports."""
    import transformers

    from ..core.config import TrainConfig
    from ..data.builtin_data import EXAMPLE_QUESTIONS, builtin_passages
    from ..data.documents import Document
    from ..data.splits import load_splits
    from ..evaluation.report import format_report
    from ..retriever import DensePassageRetriever
    from ..search.document_store import InMemoryDocumentStore

    started = time.perf_counter()
    transformers.utils.logging.disable_progress_bar()  # keep the output to our own report
    config = TrainConfig.preset("smoke", save_dir=save_dir, seed=seed, device="cpu")
    if n_epochs is not None:
        config = config.replace(n_epochs=n_epochs)
    print(f"dpr-nb demo: a {config.query_model} bi-encoder on the built-in dataset, {config.n_epochs} epochs\n")
    retriever = DensePassageRetriever.from_config(config, document_store=InMemoryDocumentStore())
    test = load_splits(config.data_dir, config.train_filename)["test"]  # towns the model never trains on

    def evaluate():
        return retriever.evaluate(test, batch_size=config.batch_size, num_hard_negatives=config.num_hard_negatives)

    before = evaluate()
    print(format_report(before, "Report on the test set BEFORE training:"), "\n")

    retriever.train(config=config)
    after = evaluate()
    print("\n" + format_report(after, "Report on the test set AFTER training:"), "\n")

    reloaded = DensePassageRetriever.load(load_dir=save_dir, document_store=InMemoryDocumentStore(), use_gpu=False)
    questions = EXAMPLE_QUESTIONS
    same = np.allclose(retriever.embed_queries(questions), reloaded.embed_queries(questions), atol=1e-5)
    print(f"Saved to {save_dir}/ and reloaded: identical query embeddings: {same}\n")

    reloaded.document_store.write_documents(
        Document(content=p["text"], meta={"name": p["title"]}, id=p["passage_id"]) for p in builtin_passages()
    )
    reloaded.document_store.update_embeddings(reloaded)
    for question in questions:
        print(f"Q: {question}")
        for rank, document in enumerate(reloaded.retrieve(question, top_k=3, scale_score=False), start=1):
            print(f"   {rank}. [{document.score:.3f}] {document.meta['name']}: {document.content[:90]}")
    print(f"\nDone in {time.perf_counter() - started:.0f} s.")
    return {"before": before, "after": after, "reload_identical": same}


def train(preset: str | None, config_file: str | None, settings: list[str], resume: bool, restart: bool) -> int:
    """`dpr-nb train`: the run a TrainConfig describes, printed as it goes; under torchrun, process 0 speaks."""
    from ..core.config import TrainConfig
    from ..evaluation.report import format_report
    from ..training.distributed import current_group
    from ..training.train import train_model

    config = TrainConfig.load(config_file) if config_file else TrainConfig.preset(preset or "smoke")
    config = config.with_settings(settings)
    group = current_group()
    say = print if group.is_main else (lambda *args, **kwargs: None)
    say(
        f"dpr-nb train: {config.query_model} / {config.passage_model} on {config.data_dir}, "
        f"{group.world_size} process(es)"
    )
    report_line = lambda trainer, record: say(  # noqa: E731
        f"step {record['step']} {record['split']}: "
        + "  ".join(f"{k}={record[k]:.4f}" for k in ("loss", "acc", "f1", "average_rank") if k in record)
    )
    trained = train_model(
        config, callbacks={"on_evaluate": report_line}, resume=resume, restart=restart, progress_bar=group.is_main
    )
    for split, report in trained.reports.items():
        say(format_report(report, f"\nReport on {split}:"))
    if trained.saved_to:
        say(f"\nSaved to {trained.saved_to}/ (the model, train_config.json, history.json)")
    return 0


def fetch(files: list[str], data_dir: str, models: list[str]) -> int:
    """`dpr-nb fetch`: DPR's files into data_dir and models into the Hugging Face cache, for a room without wifi."""
    from ..tools.download import DPR_FILES, download

    for name in files:
        print(f"{name}: {DPR_FILES[name][2]}")
        print(f"  -> {download(name, data_dir)}")  # resumes a .part file, skips a finished one
    if models:
        from ..model.encoders import Encoder

        for name in models:
            # Loading once is what fetches exactly the files a later load reads (and records in the cache the
            # optional ones a repository lacks, so that an offline load knows they are absent).
            encoder = Encoder.from_pretrained(name)
            print(
                f"{name}: in the Hugging Face cache ({sum(p.numel() for p in encoder.parameters()):,} "
                f"parameters, {encoder.pooling} pooling)"
            )
    print("Done: with HF_HUB_OFFLINE=1 set, training and evaluation now need no network.")
    return 0


def preset_models() -> list[str]:
    from ..core.config import PRESETS, TINY_MODEL

    names = {n for config in PRESETS.values() for n in (config.query_model, config.passage_model)}
    return sorted(names - {TINY_MODEL})


def open_retriever(name: str, like=None):
    """A saved retriever folder, or a model (hub name or folder) used as both encoders, with `like`'s lengths."""
    from pathlib import Path

    from ..retriever import DensePassageRetriever

    folder = Path(name)
    if folder.is_dir() and ((folder / "query_encoder").is_dir() or (folder / "retriever_config.json").is_file()):
        return DensePassageRetriever.load(folder, progress_bar=False)
    lengths = (
        {"max_seq_len_query": like.max_seq_len_query, "max_seq_len_passage": like.max_seq_len_passage} if like else {}
    )
    return DensePassageRetriever(
        query_embedding_model=name, passage_embedding_model=name, progress_bar=False, **lengths
    )


def build_index(args) -> int:
    """`dpr-nb index`: encode the corpus to disk (resuming, one share per torchrun process), then process 0 builds
    the FAISS index from the embeddings file and saves it with the passages."""
    from pathlib import Path

    from ..search.corpus_encoding import encode_corpus
    from ..search.faiss_store import FAISSDocumentStore, import_faiss
    from ..training.distributed import current_group

    import_faiss()  # before hours of encoding: say now if the index could not be built
    group = current_group()  # under torchrun: joins the group and picks this process's GPU
    out = Path(args.out)
    embeddings_dir = Path(args.embeddings) if args.embeddings else out.with_name(f"{out.name}.embeddings")
    retriever = open_retriever(args.model)
    retriever.progress_bar = False  # one bar for the whole corpus, not one per batch
    if group.is_main:
        print(
            f"dpr-nb index: {args.corpus} with {args.model} into {embeddings_dir}/ ({group.world_size} "
            f"process(es)), then a {args.index} index in {out}/"
        )
    encoded = encode_corpus(
        retriever,
        args.corpus,
        embeddings_dir,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        commit_rows=args.commit_rows,
        dtype=args.dtype,
        group=group,
    )
    if not group.is_main:
        return 0
    settings = {
        "hnsw_m": args.hnsw_m,
        "hnsw_ef_search": args.ef_search,
        "ivf_nlist": args.nlist,
        "ivf_nprobe": args.nprobe,
        "pq_m": args.pq_m,
    }
    started = time.perf_counter()
    store = FAISSDocumentStore.build_from_encoding(
        encoded.folder, out, index_type=args.index, **{k: v for k, v in settings.items() if v is not None}
    )
    print(
        f"{out}/: {store.get_document_count():,} passages in a {args.index} index "
        f"({time.perf_counter() - started:.0f} s to build). Evaluate with: dpr-nb eval --model {args.model} "
        f"--questions QUESTIONS --index {out}"
    )
    return 0


def evaluate(args) -> int:
    """`dpr-nb eval`: full-corpus retrieval against BM25 (with --corpus or --index), else the in-batch report."""
    import json

    from ..core.files import write_text_atomic
    from ..data.dpr_file import load_dpr_file
    from ..evaluation.report import format_report

    retriever = open_retriever(args.model)
    if args.index:
        return evaluate_with_index(args, retriever)
    if not args.corpus:
        report = retriever.evaluate(
            args.questions, batch_size=args.batch_size, num_hard_negatives=args.num_hard_negatives
        )
        print(format_report(report, f"{args.model} on {args.questions}:"))
        values = {k: v for k, v in report.items() if k != "report"}
        values["classes"] = report["report"].to_dict(orient="index")
    else:
        from ..evaluation.corpus_eval import comparison_table, evaluate_corpus, evaluate_corpus_bm25, load_corpus

        examples, corpus = load_dpr_file(args.questions), load_corpus(args.corpus)
        ks = args.ks  # ascending, each at least 1 (ks_list)
        results = [evaluate_corpus(retriever, examples, corpus, ks, args.match, name=args.model)]
        for other in args.compare:
            results.append(
                evaluate_corpus(open_retriever(other, like=retriever), examples, corpus, ks, args.match, name=other)
            )
        if not args.no_bm25:
            results.append(evaluate_corpus_bm25(examples, corpus, ks, args.match))
        table = comparison_table(results)
        print(
            f"{len(examples)} questions of {args.questions}, each ranking all {len(corpus)} passages of "
            f"{args.corpus}; a hit is {'the gold passage' if args.match == 'id' else 'a passage with an answer'}"
            f"{' or the gold passage' if args.match == 'either' else ''}:\n"
        )
        print(table.drop(columns="questions").to_string(float_format=lambda v: f"{v:.4f}"))
        values = {
            "questions": args.questions,
            "corpus": args.corpus,
            "match": args.match,
            "results": {r.name: r.metrics for r in results},
        }
    if args.json:
        write_text_atomic(args.json, json.dumps(values, indent=2))
    return 0


def evaluate_with_index(args, retriever) -> int:
    """`dpr-nb eval --index`: the model's ranking comes from a prebuilt FAISS index (BM25 only with --corpus)."""
    import json

    from ..core.errors import SettingsError
    from ..core.files import write_text_atomic
    from ..data.dpr_file import load_dpr_file
    from ..evaluation.corpus_eval import comparison_table, evaluate_corpus_bm25
    from ..search.faiss_store import FAISSDocumentStore, evaluate_index

    if args.compare:
        raise SettingsError(
            "--compare with --index: another model needs its own index. Evaluate each model with "
            "`dpr-nb eval --model MODEL --index ITS_INDEX`, or compare in memory with --corpus."
        )
    examples, store = load_dpr_file(args.questions), FAISSDocumentStore.load(args.index)
    ks = args.ks  # ascending, each at least 1 (ks_list)
    results = [evaluate_index(retriever, examples, store, ks, args.match, name=args.model)]
    if args.corpus and not args.no_bm25:
        results.append(evaluate_corpus_bm25(examples, args.corpus, ks, args.match))
    print(
        f"{len(examples)} questions of {args.questions}, each ranking the {store.get_document_count()} passages "
        f"of the {store.index_type} index {args.index}:\n"
    )
    print(comparison_table(results).drop(columns="questions").to_string(float_format=lambda v: f"{v:.4f}"))
    if args.json:
        values = {
            "questions": args.questions,
            "index": args.index,
            "index_type": store.index_type,
            "match": args.match,
            "results": {r.name: r.metrics for r in results},
        }
        write_text_atomic(args.json, json.dumps(values, indent=2))
    return 0


def settings_help() -> str:
    """Every TrainConfig field under its section, with its help: what `--set KEY=VALUE` can change."""
    import textwrap

    from ..core.config import TrainConfig

    lines = ["settings (--set KEY=VALUE; none/null for an empty one):"]
    for title, names in TrainConfig.sections().items():
        lines.append(f"  {title}")
        for name in names:
            lines.append(
                textwrap.fill(TrainConfig.help(name), 116, initial_indent=f"    {name}: ", subsequent_indent=" " * 6)
            )
    return "\n".join(lines)


def outputs(args) -> list[tuple[str, str, bool]]:
    """What the command will write, as (path, option, is_file): each is checked before any work starts."""
    command = f"data {args.data_command}" if args.command == "data" else args.command
    if command == "eval":
        return [(args.json, "--json", True)] if args.json else []
    if command == "index":
        return [
            (args.out, "--out", False),
            (args.embeddings or f"{args.out.rstrip('/')}.embeddings", "--embeddings", False),
        ]
    if command == "fetch":
        return [(args.data_dir, "--data-dir", False)]
    if command in ("data subset", "data mine"):
        return [(args.target, "the target", True)]
    if command == "data convert-squad":
        return [(args.out_dir, "the out_dir", False)]
    if command in ("data records", "data index") and args.out:
        return [(args.out, "--out", False)]
    return []


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse then says which option is wrong, in one line)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def ks_list(text: str) -> list[int]:
    """--ks "1,5,20": distinct whole numbers of at least 1, ascending."""
    try:
        return sorted({positive_int(k) for k in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give k values of at least 1, separated by commas (1,5,20)"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dpr-nb", description="Train your own Dense Passage Retrieval models.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="train a tiny model on the built-in dataset (CPU, no downloads)")
    demo_parser.add_argument("--save-dir", default="saved_models/dpr-demo", help="where to save the trained model")
    demo_parser.add_argument("--epochs", type=int, default=None, help="override the smoke preset's epochs")
    demo_parser.add_argument("--seed", type=int, default=42)
    train_parser = commands.add_parser(
        "train",
        help="train from a preset or a config file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=settings_help(),
    )
    source = train_parser.add_mutually_exclusive_group()
    source.add_argument("--preset", default=None, help="smoke (default), from_scratch or finetune")
    source.add_argument("--config", default=None, help="a train_config.json (as saved next to every model)")
    train_parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one TrainConfig field, e.g. --set batch_size=128 (repeatable)",
    )
    restart_or_resume = train_parser.add_mutually_exclusive_group()
    restart_or_resume.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    restart_or_resume.add_argument(
        "--restart", action="store_true", help="replace an earlier run's checkpoints in checkpoint_dir with this run's"
    )
    eval_parser = commands.add_parser("eval", help="retrieval from a corpus against BM25, or the in-batch report")
    eval_parser.add_argument("--model", required=True, help="a folder saved by training (or by Haystack v1)")
    eval_parser.add_argument("--questions", "--data", required=True, help="a DPR file of questions and gold passages")
    eval_parser.add_argument(
        "--corpus",
        default=None,
        help="a passages TSV (id, text, title) or DPR file to rank in full; without it, the in-batch report",
    )
    eval_parser.add_argument(
        "--index",
        default=None,
        metavar="INDEX_DIR",
        help="rank with this FAISS index (made by `dpr-nb index`) instead of embedding the "
        "corpus in memory; --corpus then only feeds BM25",
    )
    eval_parser.add_argument(
        "--ks", default="1,5,20,100", type=ks_list, help="the k of top-k accuracy, MRR@k and recall@k"
    )
    eval_parser.add_argument(
        "--match",
        choices=("id", "answer", "either"),
        default="id",
        help="a hit is the gold passage (id), a passage containing an answer, or either",
    )
    eval_parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="MODEL",
        help="another saved folder or model name in the same table, e.g. the untrained base",
    )
    eval_parser.add_argument("--no-bm25", action="store_true", help="leave out the BM25 baseline")
    eval_parser.add_argument("--batch-size", type=positive_int, default=16, help="in-batch report: questions per batch")
    eval_parser.add_argument("--num-hard-negatives", type=int, default=1)
    eval_parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    index_command = commands.add_parser("index", help="encode a passages TSV to disk and build a FAISS index")
    index_command.add_argument("--model", required=True, help="a folder saved by training (or a model name)")
    index_command.add_argument("--corpus", required=True, help="a DPR passages TSV (id, text, title), any size")
    index_command.add_argument("--out", required=True, help="the index folder to write")
    index_command.add_argument(
        "--index",
        choices=("hnsw", "ivfpq", "flat"),
        default="hnsw",
        help="hnsw: fast, approximate, vectors in memory; ivfpq: compressed (192 bytes a "
        "passage at 768 dims), approximate; flat: exact, slowest",
    )
    index_command.add_argument(
        "--embeddings", default=None, help="the resumable encoding folder (default: OUT.embeddings beside the index)"
    )
    index_command.add_argument("--batch-size", type=positive_int, default=64, help="passages encoded at a time")
    index_command.add_argument(
        "--shard-size",
        type=positive_int,
        default=100_000,
        help="rows per shard; under torchrun, process r takes shards r, r+N, ...",
    )
    index_command.add_argument(
        "--commit-rows",
        type=int,
        default=8192,
        help="rows written between two progress records: the most a kill can lose",
    )
    index_command.add_argument(
        "--dtype", choices=("float16", "float32"), default="float16", help="of the embeddings on disk"
    )
    index_command.add_argument("--hnsw-m", type=int, default=None, help="HNSW links per passage (default 32)")
    index_command.add_argument("--ef-search", type=int, default=None, help="HNSW search breadth (default 128)")
    index_command.add_argument("--nlist", type=int, default=None, help="IVF lists (default 4 x sqrt(passages))")
    index_command.add_argument("--nprobe", type=int, default=None, help="IVF lists searched (default 32)")
    index_command.add_argument("--pq-m", type=int, default=None, help="PQ bytes per passage (default dim / 4)")
    fetch_parser = commands.add_parser("fetch", help="download DPR's files and the presets' models ahead of time")
    fetch_parser.add_argument(
        "files",
        nargs="*",
        default=["nq-dev"],
        metavar="FILE",
        help="nq-dev (default, 800 MB), nq-train (7.4 GB), wikipedia-passages (13 GB), xquad-en, xquad-de (<1 MB)",
    )
    fetch_parser.add_argument(
        "--data-dir", default="data/dpr_training", help="where the files go (the presets' data_dir)"
    )
    fetch_parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="NAME",
        help="models to cache (default: the presets' bert-base-uncased and Facebook's DPR encoders)",
    )
    fetch_parser.add_argument("--no-models", action="store_true", help="fetch only the files")
    data_parser = commands.add_parser("data", help="look at and cut down DPR files").add_subparsers(
        dest="data_command", required=True
    )
    stats_parser = data_parser.add_parser("stats", help="counts and text lengths of a DPR file")
    stats_parser.add_argument("path")
    subset_parser = data_parser.add_parser("subset", help="the first or a seeded random N questions in a new file")
    subset_parser.add_argument("source")
    subset_parser.add_argument("target", help="a .json, .jsonl, .json.gz or .jsonl.gz file to write")
    subset_parser.add_argument("--n", type=int, required=True, help="how many questions")
    subset_parser.add_argument("--seed", type=int, default=None, help="draw at random with this seed (else the first)")
    # "index" was its name before 0.2; in this package an index is FAISS's.
    records_parser = data_parser.add_parser(
        "records", aliases=["index"], help="copy a DPR file's records to disk once, for training in flat memory"
    )
    records_parser.add_argument("path")
    records_parser.add_argument("--out", default=None, help="the folder (default: beside the file, <file>.records)")
    records_parser.add_argument("--rebuild", action="store_true", help="rebuild even if an up-to-date copy exists")
    squad_parser = data_parser.add_parser("convert-squad", help="a SQuAD file as DPR files with BM25 hard negatives")
    squad_parser.add_argument("source", help="a SQuAD v1.1 or v2.0 JSON file (XQuAD, MLQA, ...)")
    squad_parser.add_argument("out_dir", help="where to write passages.tsv, train.json, dev.json, test.json")
    squad_parser.add_argument("--dev-fraction", type=float, default=0.1, help="share of the articles for dev")
    squad_parser.add_argument("--test-fraction", type=float, default=0.1, help="share of the articles for test")
    squad_parser.add_argument("--num-hard-negatives", type=int, default=30, help="BM25 hard negatives per question")
    squad_parser.add_argument(
        "--char-level",
        action="store_const",
        const=True,
        default=None,
        help="tokenise by characters for BM25 (default: only for Chinese, Japanese, Thai)",
    )
    squad_parser.add_argument("--seed", type=int, default=0, help="seed of the article shuffle")
    mine_parser = data_parser.add_parser("mine", help="hard negatives mined with a trained model")
    mine_parser.add_argument("source")
    mine_parser.add_argument("target", help="the DPR file to write, with the mined hard_negative_ctxs")
    mine_parser.add_argument("--model", required=True, help="a folder saved by DensePassageRetriever.save()")
    mine_parser.add_argument("--corpus", default=None, help="a passages TSV (id, text, title); default: the file's own")
    mine_parser.add_argument("--num-hard-negatives", type=int, default=30)
    args = parser.parse_args(argv)
    if args.command == "demo":
        result = demo(args.save_dir, args.epochs, args.seed)
        return 0 if result["after"]["average_rank"] < result["before"]["average_rank"] else 1
    # Only what every command needs: the data tools and --help stay clear of torch and transformers.
    from ..core.errors import DPRNBError, SettingsError
    from ..core.files import ensure_writable
    from ..tools.data_tools import file_stats, format_stats, write_subset

    if args.command in ("train", "eval", "index", "fetch") or getattr(args, "data_command", None) == "mine":
        import transformers

        transformers.utils.logging.disable_progress_bar()  # our own progress and reports, not one bar per file
    try:
        for path, option, is_file in outputs(args):  # an output that cannot be written is found before the work
            ensure_writable(path, option, is_file, consequence="Nothing was done.")
        if args.command == "train":
            return train(args.preset, args.config, args.set, args.resume, args.restart)
        if args.command == "eval":
            return evaluate(args)
        if args.command == "index":
            return build_index(args)
        if args.command == "fetch":
            from ..tools.download import DPR_FILES

            unknown = [name for name in args.files if name not in DPR_FILES]
            if unknown:
                raise SettingsError(f"unknown file(s) {unknown}; choose from {sorted(DPR_FILES)}")
            models = [] if args.no_models else (args.models or preset_models())
            return fetch(args.files, args.data_dir, models)
        if args.data_command == "stats":
            print(format_stats(args.path, file_stats(args.path)))
        elif args.data_command == "convert-squad":
            from ..tools.squad import convert_squad, format_counts

            counts = convert_squad(
                args.source,
                args.out_dir,
                args.dev_fraction,
                args.test_fraction,
                args.num_hard_negatives,
                args.char_level,
                args.seed,
            )
            print(f"wrote {args.out_dir}/passages.tsv, train.json, dev.json, test.json\n{format_counts(counts)}")
        elif args.data_command == "mine":
            from ..retriever import DensePassageRetriever
            from ..tools.mining import mine_hard_negatives

            retriever = DensePassageRetriever.load(args.model)
            counts = mine_hard_negatives(retriever, args.source, args.target, args.corpus, args.num_hard_negatives)
            print(f"wrote {args.target}: {counts}")
        elif args.data_command in ("records", "index"):
            from ..data.records_on_disk import DPRFileOnDisk

            examples = DPRFileOnDisk.build(args.path, args.out, rebuild=args.rebuild)
            print(f"{examples.folder}: {len(examples)} questions, ready for TrainConfig(records_on_disk=True)")
        else:
            written = write_subset(args.source, args.target, args.n, args.seed)
            print(f"wrote {written} questions to {args.target}")
    # What a user causes (a wrong path or setting, a damaged file, no optional package): a DPRNBError, whose message
    # names the file, the setting and the fix. What the machine causes (a missing file, an unreadable folder, a full
    # disk, a lost connection) is an OSError. Both end in one line; any other error is a bug and shows its traceback.
    except (DPRNBError, OSError) as e:
        return _report_error(e)
    return 0


def _report_error(error: Exception) -> int:
    """One line on stderr, and the exit status 1."""
    print(f"error: {error}", file=sys.stderr)
    # Under torchrun the other processes may be waiting for this one: its exit must not destroy the group. The
    # module is there only if a command that runs under torchrun loaded it (the data tools never import torch).
    distributed = sys.modules.get("dpr_nb.training.distributed")
    if distributed is not None:
        distributed.leave_group_at_exit()
    return 1


if __name__ == "__main__":
    sys.exit(main())
