"""`dpr-nb data`: DPR files looked at, cut down, copied to disk, converted from SQuAD, given mined hard negatives.
Only `mine` loads torch: the others stream a file of any size in little memory and start at once."""

from __future__ import annotations

import argparse
import sys

from .arguments import no_outputs


def register(subparsers) -> None:
    group = subparsers.add_parser("data", help="look at and cut down DPR files")
    group.set_defaults(run=run)
    commands = group.add_subparsers(dest="data_command", required=True)
    stats = commands.add_parser("stats", help="counts and text lengths of a DPR file")
    stats.add_argument("path")
    stats.set_defaults(run_subcommand=run_stats, outputs=no_outputs)

    subset = commands.add_parser("subset", help="the first or a seeded random N questions in a new file")
    subset.add_argument("source")
    subset.add_argument("target", help="a .json, .jsonl, .json.gz or .jsonl.gz file to write")
    subset.add_argument("--n", type=int, required=True, help="how many questions")
    subset.add_argument("--seed", type=int, default=None, help="draw at random with this seed (else the first)")
    subset.set_defaults(run_subcommand=run_subset, outputs=target_output)

    # "index" was its name before 0.2; in this package an index is FAISS's.
    records = commands.add_parser(
        "records", aliases=["index"], help="copy a DPR file's records to disk once, for training in flat memory"
    )
    records.add_argument("path")
    records.add_argument("--out", default=None, help="the folder (default: beside the file, <file>.records)")
    records.add_argument("--rebuild", action="store_true", help="rebuild even if an up-to-date copy exists")
    records.set_defaults(run_subcommand=run_records, outputs=records_output)

    squad = commands.add_parser("convert-squad", help="a SQuAD file as DPR files with BM25 hard negatives")
    squad.add_argument("source", help="a SQuAD v1.1 or v2.0 JSON file (XQuAD, MLQA, ...)")
    squad.add_argument("out_dir", help="where to write passages.tsv, train.json, dev.json, test.json")
    squad.add_argument("--dev-fraction", type=float, default=0.1, help="share of the articles for dev")
    squad.add_argument("--test-fraction", type=float, default=0.1, help="share of the articles for test")
    squad.add_argument("--num-hard-negatives", type=int, default=30, help="BM25 hard negatives per question")
    squad.add_argument(
        "--char-level",
        action="store_const",
        const=True,
        default=None,
        help="tokenise by characters for BM25 (default: only for Chinese, Japanese, Thai)",
    )
    squad.add_argument("--seed", type=int, default=0, help="seed of the article shuffle")
    squad.set_defaults(run_subcommand=run_convert_squad, outputs=out_dir_output)

    mine = commands.add_parser("mine", help="hard negatives mined with a trained model")
    mine.add_argument("source")
    mine.add_argument("target", help="the DPR file to write, with the mined hard_negative_ctxs")
    mine.add_argument("--model", required=True, help="a folder saved by DensePassageRetriever.save()")
    mine.add_argument("--corpus", default=None, help="a passages TSV (id, text, title); default: the file's own")
    mine.add_argument("--num-hard-negatives", type=int, default=30)
    mine.set_defaults(run_subcommand=run_mine, outputs=target_output)


def run(args: argparse.Namespace) -> int:
    """The subcommand's own run (each of its parsers names it)."""
    return args.run_subcommand(args)


def target_output(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    return [(args.target, "the target", True)]


def out_dir_output(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    return [(args.out_dir, "the out_dir", False)]


def records_output(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    return [(args.out, "--out", False)] if args.out else []


def run_stats(args: argparse.Namespace) -> int:
    from ..tools.data_tools import file_stats, format_stats

    print(format_stats(args.path, file_stats(args.path)))
    return 0


def run_subset(args: argparse.Namespace) -> int:
    from ..tools.data_tools import write_subset

    written = write_subset(args.source, args.target, args.n, args.seed)
    print(f"wrote {written} questions to {args.target}")
    return 0


def run_records(args: argparse.Namespace) -> int:
    from ..data.records_on_disk import DPRFileOnDisk

    if args.data_command == "index":
        say_old_name("dpr-nb data index")
    examples = DPRFileOnDisk.build(args.path, args.out, rebuild=args.rebuild)
    print(f"{examples.folder}: {len(examples)} questions, ready for TrainConfig(records_on_disk=True)")
    return 0


def run_convert_squad(args: argparse.Namespace) -> int:
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
    return 0


def run_mine(args: argparse.Namespace) -> int:
    from ..retriever import DensePassageRetriever
    from ..tools.mining import mine_hard_negatives
    from .arguments import quiet_transformers

    quiet_transformers()
    retriever = DensePassageRetriever.load(args.model)
    counts = mine_hard_negatives(retriever, args.source, args.target, args.corpus, args.num_hard_negatives)
    print(f"wrote {args.target}: {counts}")
    return 0


def say_old_name(old: str) -> None:
    """old_names' notice for an old command (its table, RENAMED_COMMANDS, names the new one), printed on stderr:
    Python shows no DeprecationWarning raised outside __main__, so a user of the command would never see the warning
    itself."""
    import warnings

    from ..core import old_names

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old_names.warn(old, old_names.RENAMED_COMMANDS[old])
    for warning in caught:
        print(f"{warning.category.__name__}: {warning.message}", file=sys.stderr)
