"""Build time, memory, queries per second, one query's latency and recall@10 of FAISSDocumentStore's indexes against
exact search.

    python benchmarks/faiss_indexes.py                                # 1,000,000 vectors of 768 dims, 1,000 queries
    python benchmarks/faiss_indexes.py --n 100000 --queries 200        # a quick check
    OMP_NUM_THREADS=1 python benchmarks/faiss_indexes.py               # one core, as the README's table was made

Data: synthetic vectors shaped like sentence embeddings, not noise (in which every neighbour is as far as any
other and recall means nothing): a mixture of --clusters Gaussian clusters (centres drawn from N(0, 1) in --dim
dimensions) whose members vary along a shared 64-dimensional subspace about as much as the centres differ, plus a
little noise in every dimension. Queries are fresh draws from the same mixture. Similarity: the inner product, as
DPR's. Fixed seed: every run measures the same vectors.

Rows:
- InMemoryDocumentStore: dpr_nb's in-memory store holding every vector (one per Document), searched one query at
  a time by query_by_embedding, as retrieve() does. Its first query stacks the vectors into the matrix it keeps
  (counted as building); --store-queries (50) more queries are timed.
- numpy exact: one (n, dim) matrix, queries multiplied against it 100 at a time and the top 10 taken by
  argpartition. This is the exact search that defines recall@10 for the other rows (and what
  dpr_nb.evaluation.corpus_eval.evaluate_corpus does).
- flat, hnsw, ivfpq: FAISSDocumentStore(index_type=...) with its default settings, built by update_embeddings from
  the vectors (a stand-in retriever returns them) and searched by store.search with all queries in one call.

Numbers:
- build s: wall-clock seconds to build the index from vectors in memory (ivfpq: training on a sample included);
  for InMemoryDocumentStore, writing the Documents and its first query; numpy exact has nothing to build.
- memory MB: what the index holds: the bytes faiss.write_index writes for it (its size in memory, and on disk
  once saved); for numpy and the in-memory store, the float32 vectors (n x dim x 4).
- QPS: queries per second, wall clock, with the threads OMP_NUM_THREADS allows (faiss and numpy's BLAS use them).
- latency ms: one query at a time, as a search box asks (--latency-queries of them, each timed alone): the median
  and the 95th percentile, in milliseconds. A batch's QPS hides it: a query alone pays for a whole pass over a
  flat index.
- recall@10: the share of each query's exact top 10 found in the index's top 10, averaged over the queries.

Writes --json (default benchmarks/results/faiss_indexes.json) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from common import RESULTS, cpu_name  # also puts the checkout's dpr_nb first on sys.path

from dpr_nb import Document, FAISSDocumentStore, InMemoryDocumentStore
from dpr_nb.search.faiss_store import import_faiss

SUBSPACE = 64  # dimensions along which a cluster's members vary


def synthetic_vectors(n: int, dim: int, clusters: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    """(n, dim) float32 from the mixture described above; generated in chunks to bound the temporaries."""
    rng = np.random.default_rng(seed)
    mixture = np.random.default_rng(0)  # the same centres and subspace for the corpus and for the queries
    centres = mixture.standard_normal((clusters, dim), dtype=np.float32)  # (clusters, dim)
    subspace = mixture.standard_normal((SUBSPACE, dim), dtype=np.float32) / np.sqrt(SUBSPACE)  # (64, dim)
    vectors = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        members = rng.integers(0, clusters, rows)
        vectors[start : start + rows] = (
            centres[members]
            + rng.standard_normal((rows, SUBSPACE), dtype=np.float32) @ subspace
            + 0.1 * rng.standard_normal((rows, dim), dtype=np.float32)
        )
    return vectors


def exact_top_10(vectors: np.ndarray, queries: np.ndarray, per_call: int = 100) -> np.ndarray:
    """(queries, 10) positions of the exact top 10 by inner product, best first."""
    found = []
    for start in range(0, len(queries), per_call):
        scores = queries[start : start + per_call] @ vectors.T  # (per_call, n)
        top = np.argpartition(-scores, 9, axis=1)[:, :10]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        found.append(np.take_along_axis(top, order, axis=1))
    return np.concatenate(found)


def recall_at_10(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)]))


class Vectors:
    """A stand-in retriever whose 'passage encoder' returns the synthetic vectors."""

    similarity_function = "dot_product"

    def __init__(self, vectors: np.ndarray):
        self.vectors = vectors

    def embed_documents(self, documents, batch_size=None) -> np.ndarray:
        return self.vectors


def latency_ms(search, queries: np.ndarray) -> tuple[float, float]:
    """The median and 95th percentile of `search(one query as a (1, dim) array)`'s wall-clock time, in ms."""
    times = []
    for query in queries:
        started = time.perf_counter()
        search(query[None, :])
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def index_megabytes(index) -> float:
    faiss = import_faiss()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "index.faiss")
        faiss.write_index(index, path)
        return os.path.getsize(path) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors in the corpus")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--store-queries", type=int, default=50, help="queries timed through InMemoryDocumentStore")
    parser.add_argument("--indexes", default="flat,hnsw,ivfpq", help="which FAISS indexes, comma-separated")
    parser.add_argument("--latency-queries", type=int, default=100, help="queries timed one at a time, per index")
    parser.add_argument("--json", default=str(RESULTS / "faiss_indexes.json"))
    args = parser.parse_args()
    faiss = import_faiss()
    started = time.perf_counter()
    vectors = synthetic_vectors(args.n, args.dim, args.clusters, seed=1)
    queries = synthetic_vectors(args.queries, args.dim, args.clusters, seed=2)
    print(
        f"{args.n:,} vectors of {args.dim} dims and {args.queries:,} queries generated in "
        f"{time.perf_counter() - started:.0f} s; {faiss.omp_get_max_threads()} thread(s), {cpu_name()}",
        flush=True,
    )
    rows = []

    # Exact search, which also gives every query's true top 10.
    started = time.perf_counter()
    exact = exact_top_10(vectors, queries)
    seconds = time.perf_counter() - started
    alone = queries[: args.latency_queries]
    rows.append(
        {
            "index": "numpy exact",
            "build_s": None,
            "memory_mb": vectors.nbytes / 1e6,
            "qps": args.queries / seconds,
            "recall_at_10": 1.0,
            "latency_ms": latency_ms(lambda query: exact_top_10(vectors, query), alone),
        }
    )
    print(rows[-1], flush=True)

    documents = [Document(content="", id=str(i)) for i in range(args.n)]  # the stores need one per vector
    if args.store_queries:
        store = InMemoryDocumentStore()
        started = time.perf_counter()
        for document, vector in zip(documents, vectors):
            document.embedding = vector  # (dim,) a view: no copy
        store.write_documents(documents)
        store.query_by_embedding(queries[0], top_k=10)  # stacks the vectors into the store's matrix
        build = time.perf_counter() - started
        count = min(args.store_queries, args.queries)
        started = time.perf_counter()
        found = [[int(d.id) for d in store.query_by_embedding(q, top_k=10)] for q in queries[:count]]
        seconds = time.perf_counter() - started
        latency = latency_ms(lambda query, ask=store.query_by_embedding: ask(query[0], top_k=10), alone[:count])
        rows.append(
            {
                "index": "InMemoryDocumentStore",
                "build_s": build,
                "memory_mb": vectors.nbytes / 1e6,
                "qps": count / seconds,
                "recall_at_10": recall_at_10(np.array(found), exact[:count]),
                "latency_ms": latency,
            }
        )
        print(rows[-1], flush=True)
        for document in documents:
            document.embedding = None
        del store

    settings = {}
    for index_type in args.indexes.split(","):
        store = FAISSDocumentStore(index_type=index_type)
        store.write_documents(documents)
        started = time.perf_counter()
        store.update_embeddings(Vectors(vectors))
        build = time.perf_counter() - started
        started = time.perf_counter()
        _, found = store.search(queries, 10)
        seconds = time.perf_counter() - started
        latency = latency_ms(lambda query, search=store.search: search(query, 10), alone)
        rows.append(
            {
                "index": index_type,
                "build_s": build,
                "memory_mb": index_megabytes(store.index),
                "qps": args.queries / seconds,
                "recall_at_10": recall_at_10(found, exact),
                "latency_ms": latency,
            }
        )
        settings[index_type] = {**store.settings, "ivfpq": store.ivfpq}
        print(rows[-1], flush=True)
        del store

    table = [
        "| index | build s | memory MB | QPS | latency ms, median / p95 | recall@10 |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        build = "—" if row["build_s"] is None else f"{row['build_s']:.1f}"
        median, p95 = row["latency_ms"]
        table.append(
            f"| {row['index']} | {build} | {row['memory_mb']:.0f} | {row['qps']:,.1f} | {median:.2f} / {p95:.2f} "
            f"| {row['recall_at_10']:.3f} |"
        )
    print(
        f"\n{args.n:,} vectors x {args.dim} dims, {args.queries:,} queries, {faiss.omp_get_max_threads()} thread(s):\n"
    )
    print("\n".join(table))
    results = {
        "n": args.n,
        "dim": args.dim,
        "queries": args.queries,
        "clusters": args.clusters,
        "threads": faiss.omp_get_max_threads(),
        "cpu": cpu_name(),
        "faiss_version": faiss.__version__,
        "settings": settings,
        "rows": rows,
        "table": "\n".join(table),
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
