"""`dpr-nb index`: a passages TSV of any size encoded to disk (resumable, sharded under torchrun), then a FAISS index
built from it."""

from __future__ import annotations

import argparse
import time

from .arguments import positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser("index", help="encode a passages TSV to disk and build a FAISS index")
    parser.add_argument(
        "--model", required=True, help="a folder saved by training, a model dpr-nb push published, or a model name"
    )
    parser.add_argument("--corpus", required=True, help="a DPR passages TSV (id, text, title), any size")
    parser.add_argument("--out", required=True, help="the index folder to write")
    parser.add_argument(
        "--index",
        choices=("hnsw", "ivfpq", "flat"),
        default="hnsw",
        help="hnsw: fast, approximate, vectors in memory; ivfpq: compressed (192 bytes a "
        "passage at 768 dims), approximate; flat: exact, slowest",
    )
    parser.add_argument(
        "--embeddings", default=None, help="the resumable encoding folder (default: OUT.embeddings beside the index)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=64, help="passages encoded at a time")
    parser.add_argument(
        "--shard-size",
        type=positive_int,
        default=100_000,
        help="rows per shard; under torchrun, process r takes shards r, r+N, ...",
    )
    parser.add_argument(
        "--commit-rows",
        type=int,
        default=8192,
        help="rows written between two progress records: the most a kill can lose",
    )
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16", help="of the embeddings on disk")
    parser.add_argument("--hnsw-m", type=int, default=None, help="HNSW links per passage (default 32)")
    parser.add_argument("--ef-search", type=int, default=None, help="HNSW search breadth (default 128)")
    parser.add_argument("--nlist", type=int, default=None, help="IVF lists (default 4 x sqrt(passages))")
    parser.add_argument("--nprobe", type=int, default=None, help="IVF lists searched (default 32)")
    parser.add_argument("--pq-m", type=int, default=None, help="PQ bytes per passage (default dim / 4)")
    parser.set_defaults(run=run, outputs=outputs)


def outputs(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    return [
        (args.out, "--out", False),
        (args.embeddings or f"{args.out.rstrip('/')}.embeddings", "--embeddings", False),
    ]


def run(args: argparse.Namespace) -> int:
    """Encode the corpus to disk (resuming, one share per torchrun process), then process 0 builds the FAISS index
    from the embeddings file and saves it with the passages."""
    from pathlib import Path

    from ..search.corpus_encoding import encode_corpus
    from ..search.faiss_store import FAISSDocumentStore, import_faiss
    from ..training.distributed import current_group
    from .arguments import open_retriever, quiet_transformers

    quiet_transformers()
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
