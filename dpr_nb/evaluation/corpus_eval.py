"""Full-corpus retrieval evaluation: what the DPR paper measures, not the in-batch report.

Each question ranks *every* passage of a corpus (not only its batch's), and the ranking is scored:

- top-k accuracy: the share of questions with a hit in their first k passages (the DPR paper's top-20 / top-100);
- MRR@k: the mean of 1 / (rank of the first hit), 0 when there is none in the first k;
- recall@k: the share of a question's gold passages found in its first k, each gold passage counted once however
  many corpus rows hold it (gold passages only: with answer matching the set of relevant passages is unknown).

Passages with equal scores are ranked in corpus order, the same order for the top-k lists and the gold ranks.

A "hit" is the question's gold passage (by passage id, or by title and text when the corpus has no ids), or, with
`match="answer"`, any passage containing one of its answers after DPR's normalisation (`has_answer`: NQ's gold
passage is one of many that answer). `match="either"` counts both.

    >>> from dpr_nb.data.dpr_file import DPRExample, Passage
    >>> corpus = [Passage("Velmora", "Velmora lies on the river Osk.", "1"),
    ...           Passage("Dorvan", "Dorvan is famous for its salt mines.", "2")]
    >>> question = DPRExample("which river flows through velmora", ["Osk"], [corpus[0]])
    >>> result = evaluate_corpus_bm25([question], corpus, ks=(1,))
    >>> result.metrics["top_1_accuracy"], result.gold_ranks.tolist()
    (1.0, [0])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.config import is_builtin_data
from ..core.errors import SettingsError
from ..core.memory import memory_limit
from ..data.beir import CORPUS, beir_split, read_beir_corpus
from ..data.builtin_data import builtin_passages
from ..data.documents import Document, document_passage, passage_document
from ..data.dpr_file import DPRExample, Passage, load_dpr_file
from ..data.hub_files import local_copy
from ..data.matching import has_answer, looks_unspaced, tokenize
from ..data.passages import read_passages_tsv

DEFAULT_KS = (1, 5, 20, 100)
MATCHES = ("id", "answer", "either")


@dataclass
class CorpusResult:
    """How one retriever ranked a corpus for a set of questions."""

    name: str
    metrics: dict[str, float]  # top_{k}_accuracy, mrr_at_{k}, recall_at_{k} for every k, and "questions"
    top_indices: np.ndarray  # (questions, max k): corpus positions, best first
    top_scores: np.ndarray  # (questions, max k)
    hits: np.ndarray  # (questions, max k) bool: whether each ranked passage counts as a hit
    gold_ranks: np.ndarray  # (questions,) 0-based rank of the best-ranked gold passage in the whole corpus, -1: absent
    settings: dict = field(default_factory=dict)  # how it ranked, where that is a choice: BM25's k1 and b
    # Each question's term of each metric (question_metrics): `metrics` are their means.
    per_question: dict[str, np.ndarray] = field(default_factory=dict)


def ranking_result(
    name: str,
    examples: Sequence[DPRExample],
    groups: Sequence[list[set[int]]],
    top_indices: np.ndarray,
    top_scores: np.ndarray,
    hits: np.ndarray,
    gold_ranks: np.ndarray,
    ks: Sequence[int],
) -> CorpusResult:
    """The CorpusResult of a ranking (top_indices -1 where an index found fewer passages), its metrics computed the
    one way whichever search made it."""
    found = gold_found_matrix(groups, np.where(top_indices >= 0, top_indices, -1))
    per_question = question_metrics(hits, ks, gold_counts(groups, examples), found)
    metrics = {"questions": len(examples), **{metric: float(v.mean()) for metric, v in per_question.items()}}
    return CorpusResult(name, metrics, top_indices, top_scores, hits, gold_ranks, per_question=per_question)


def load_corpus(source) -> list[Passage]:
    """Passages from a DPR TSV (id, text, title; plain or .gz), a DPR file (all its contexts), a BEIR folder or its
    corpus.jsonl, a list of Documents or Passages, or "builtin": the 280 passages of the built-in dataset."""
    if is_builtin_data(source):
        return [Passage(p["title"], p["text"], p["passage_id"]) for p in builtin_passages()]
    if isinstance(source, (str, Path)):
        path = local_copy(source)  # an hf://datasets/... file: its copy in the Hugging Face cache
        if beir := beir_split(path):
            return list(read_beir_corpus(beir[0]))
        if path.name in (CORPUS, f"{CORPUS}.gz"):
            return list(read_beir_corpus(path))
        if path.name.endswith((".tsv", ".tsv.gz")):
            return read_passages_tsv(path)
        examples = load_dpr_file(path)
        return list({p.key: p for e in examples for p in (*e.positives, *e.hard_negatives, *e.negatives)}.values())
    passages = []
    for item in source:
        if isinstance(item, Document):
            item = document_passage(item)
        passages.append(item)
    return passages


def is_gold(passage: Passage, gold_keys: set[str], gold_texts: set[tuple[str, str]]) -> bool:
    # By id when both sides have one; a corpus without ids (or a question's gold without) falls back to the text.
    return passage.key in gold_keys or (passage.title, passage.text) in gold_texts


def hit_matrix(
    examples: Sequence[DPRExample], corpus: Sequence[Passage], top_indices: np.ndarray, match: str = "id"
) -> np.ndarray:
    """(questions, k) bool: whether each ranked passage is a hit for its question under `match`."""
    if match not in MATCHES:
        raise SettingsError(f"match={match!r}; use one of {MATCHES}")
    hits = np.zeros(top_indices.shape, dtype=bool)
    for row, (example, indices) in enumerate(zip(examples, top_indices)):
        gold_keys = {p.key for p in example.positives}
        gold_texts = {(p.title, p.text) for p in example.positives}
        for column, index in enumerate(indices):
            passage = corpus[index]
            by_id = match in ("id", "either") and is_gold(passage, gold_keys, gold_texts)
            by_answer = match in ("answer", "either") and has_answer(passage.text, example.answers)
            hits[row, column] = by_id or by_answer
    return hits


def question_metrics(
    hits: np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
    num_gold: np.ndarray | None = None,
    gold_found: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Each question's own term of every metric: (questions,) arrays named as `retrieval_metrics` names their means.
    Two models compared question by question (dpr_nb.evaluation.paired) are compared on these.

    >>> hits = np.array([[False, True, False], [False, False, False]])   # question 1: a hit at rank 2
    >>> {name: values.tolist() for name, values in question_metrics(hits, ks=(1, 3)).items()}
    {'top_1_accuracy': [0.0, 0.0], 'mrr_at_1': [0.0, 0.0], 'top_3_accuracy': [1.0, 0.0], 'mrr_at_3': [0.5, 0.0]}
    """
    values: dict[str, np.ndarray] = {}
    for k in ks:
        top = hits[:, :k]
        first = np.where(top.any(axis=1), top.argmax(axis=1) + 1, 0)  # 1-based rank of the first hit, 0: none
        values[f"top_{k}_accuracy"] = top.any(axis=1).astype(np.float64)
        values[f"mrr_at_{k}"] = np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0)
        if num_gold is not None and gold_found is not None:
            found = gold_found[:, :k].sum(axis=1)  # each gold passage counts once: recall is at most 1
            values[f"recall_at_{k}"] = np.where(num_gold > 0, found / np.maximum(num_gold, 1), 0.0)
    return values


def retrieval_metrics(
    hits: np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
    num_gold: np.ndarray | None = None,
    gold_found: np.ndarray | None = None,
) -> dict[str, float]:
    """Top-k accuracy, MRR@k and, given each question's number of gold passages in the corpus and `gold_found`
    ((questions, k) int: how many of its gold passages are first found at each rank, see gold_found_matrix), recall@k:
    the means of `question_metrics`.

    >>> hits = np.array([[False, True, False], [False, False, False]])   # question 1: a hit at rank 2
    >>> found = np.array([[0, 1, 0], [0, 0, 0]])                           # ... which is one of its 2 gold passages
    >>> m = retrieval_metrics(hits, ks=(1, 3), num_gold=np.array([2, 1]), gold_found=found)
    >>> m["top_1_accuracy"], m["top_3_accuracy"], m["mrr_at_3"], m["recall_at_3"]
    (0.0, 0.5, 0.25, 0.25)
    """
    per_question = question_metrics(hits, ks, num_gold, gold_found)
    return {"questions": int(hits.shape[0]), **{metric: float(v.mean()) for metric, v in per_question.items()}}


def gold_groups(examples: Sequence[DPRExample], corpus: Iterable[Passage], graded: bool = False) -> list[list]:
    """Per question, per gold passage the corpus holds: its corpus positions (by id, and by title and text, since a
    text may be stored under several ids), with `graded` as (positions, its grade of relevance). One pass over
    `corpus`, keeping only the questions' gold keys, so a corpus of 21 million passages streamed from a FAISS store
    needs no dict of all its keys."""
    wanted = {k for e in examples for p in e.positives for k in (p.key, p.text_key)}
    keys: dict[str, list[int]] = {}
    for position, passage in enumerate(corpus):
        for key in (passage.key, passage.text_key):
            if key in wanted:
                keys.setdefault(key, []).append(position)
    groups = []
    for example in examples:
        graded_groups: list[tuple[set[int], int]] = []
        for passage in {p.key: p for p in example.positives}.values():
            positions = {i for k in (passage.key, passage.text_key) for i in keys.get(k, ())}
            if positions:
                graded_groups.append((positions, example.relevance.get(passage.key, 1)))
        # Two gold passages the corpus holds at a common position (two ids, one title and text) are one document
        # to find, with the better of their grades.
        merged: list[tuple[set[int], int]] = []
        for positions, grade in graded_groups:
            overlapping = [g for g in merged if g[0] & positions]
            for g in overlapping:
                merged.remove(g)
                positions, grade = positions | g[0], max(grade, g[1])
            merged.append((positions, grade))
        question_groups = merged if graded else [positions for positions, _ in merged]
        groups.append(question_groups)
    return groups


def gold_counts(groups: Sequence[list[set[int]]], examples: Sequence[DPRExample]) -> np.ndarray:
    """(questions,) how many relevant passages each question has to find, recall's denominator: its gold groups, and
    the passages judged relevant that the corpus lacks (BEIR's qrels may judge one), which nothing can find."""
    return np.array([len(g) + len(e.unavailable_grades()) for g, e in zip(groups, examples)], dtype=np.int64)


def gold_found_matrix(groups: Sequence[list[set[int]]], top_indices: np.ndarray) -> np.ndarray:
    """(questions, k) int: how many gold passages (groups of positions) are first found at each rank."""
    found = np.zeros(top_indices.shape, dtype=np.int64)
    for row, (question_groups, indices) in enumerate(zip(groups, top_indices)):
        remaining = list(question_groups)
        for column, index in enumerate(indices):
            hit = [g for g in remaining if index in g]
            if hit:
                found[row, column] = len(hit)
                remaining = [g for g in remaining if index not in g]
    return found


def rank_top(scores: np.ndarray, top_k: int) -> np.ndarray:
    """(questions, top_k) corpus positions by score, best first; equal scores in corpus order."""
    top = np.empty((len(scores), top_k), dtype=np.int64)
    for row, values in enumerate(scores):
        # Everything at or above the k-th best score (in linear time), then only those sorted: by score, then
        # position, so a tie at the boundary keeps the passage that comes first in the corpus.
        threshold = np.partition(values, len(values) - top_k)[len(values) - top_k]
        candidates = np.flatnonzero(values >= threshold)
        top[row] = candidates[np.lexsort((candidates, -values[candidates]))[:top_k]]
    return top


# A block of questions ranked at a time holds at most this many scores (256 MB of float32): no (questions, corpus)
# matrix is ever held whole (NQ's 6,515 test questions against DPR's 21M passages would be 510 GB).
BLOCK_SCORES = 64 * 2**20


def question_blocks(questions: int, corpus_size: int) -> Iterator[slice]:
    """Slices of questions whose scores against the whole corpus fit in BLOCK_SCORES."""
    rows = max(1, BLOCK_SCORES // max(1, corpus_size))
    for start in range(0, questions, rows):
        yield slice(start, min(start + rows, questions))


def _gold_rank(values: np.ndarray, positions: np.ndarray) -> int:
    """The rank (from 0) of the first of `positions` in the order rank_top ranks `values`: every passage scored
    above it, and the equal ones before it in the corpus."""
    best = positions[np.lexsort((positions, -values[positions]))[0]]
    return int((values > values[best]).sum() + (values[:best] == values[best]).sum())


def score_ranking(
    name: str,
    examples: Sequence[DPRExample],
    corpus: Sequence[Passage],
    scores: np.ndarray | Callable[[slice], np.ndarray],
    ks: Sequence[int] = DEFAULT_KS,
    match: str = "id",
) -> CorpusResult:
    """Rank every question's scores over the corpus and score the ranking.

    `scores`: a (questions, corpus) array, or a function giving the rows of a slice of questions, which is called
    block by block (question_blocks) so that a large corpus never needs the whole matrix. Any model's scores go
    through the same metrics: benchmarks/retrieval_quality.py scores a sentence-transformers model's own `encode`
    this way, next to dpr_nb's retrievers and BM25."""
    rows_of = scores.__getitem__ if isinstance(scores, np.ndarray) else scores
    top_k = min(max(ks), len(corpus))
    groups = gold_groups(examples, corpus)
    top_indices = np.empty((len(examples), top_k), dtype=np.int64)
    top_scores = None  # of the scores' own dtype
    gold_ranks = np.full(len(examples), -1)
    for rows in question_blocks(len(examples), len(corpus)):
        block = np.asarray(rows_of(rows))  # (rows, corpus)
        if top_scores is None:
            top_scores = np.empty((len(examples), top_k), dtype=block.dtype)
        top_indices[rows] = rank_top(block, top_k)
        top_scores[rows] = np.take_along_axis(block, top_indices[rows], axis=1)
        for values, row in zip(block, range(rows.start, rows.stop)):
            if groups[row]:
                gold_ranks[row] = _gold_rank(values, np.array(sorted(set().union(*groups[row]))))
    if top_scores is None:  # no questions
        top_scores = np.empty((0, top_k), dtype=np.float32)
    hits = hit_matrix(examples, corpus, top_indices, match)
    return ranking_result(name, examples, groups, top_indices, top_scores, hits, gold_ranks, ks)


def embed_for_ranking(
    retriever, questions: Sequence[str], passages: Sequence[Passage], batch_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(question embeddings (Q, dim), passage embeddings (N, dim)) whose dot products rank by the retriever's
    similarity: normalised first when it compares by cosine."""
    documents = [passage_document(p) for p in passages]
    passage_embeddings = retriever.embed_documents(documents, batch_size=batch_size)  # (N, dim)
    query_embeddings = retriever.embed_queries(list(questions), batch_size=batch_size)  # (Q, dim)
    if retriever.similarity_function == "cosine":
        passage_embeddings = passage_embeddings / np.linalg.norm(passage_embeddings, axis=1, keepdims=True)
        query_embeddings = query_embeddings / np.linalg.norm(query_embeddings, axis=1, keepdims=True)
    return query_embeddings, passage_embeddings


def evaluate_corpus(
    retriever,
    examples: Sequence[DPRExample],
    corpus,
    ks: Sequence[int] = DEFAULT_KS,
    match: str = "id",
    batch_size: int | None = None,
    name: str = "dense",
) -> CorpusResult:
    """Rank the whole `corpus` for every question with a DensePassageRetriever, by its own similarity."""
    corpus = load_corpus(corpus)
    dim = getattr(getattr(getattr(retriever, "model", None), "passage_encoder", None), "dim", None)
    if dim:  # a DensePassageRetriever (benchmarks pass other embedders)
        check_embeddings_fit(len(corpus), dim)
    query_embeddings, passage_embeddings = embed_for_ranking(
        retriever, [e.question for e in examples], corpus, batch_size
    )
    return score_ranking(name, examples, corpus, lambda rows: query_embeddings[rows] @ passage_embeddings.T, ks, match)


def check_embeddings_fit(passages: int, dim: int) -> None:
    """Refuse, before an hour of encoding, an in-memory evaluation whose passage embeddings (float32) would take more
    than half the memory this process may use (the rest: the model, the corpus's texts, a block of scores)."""
    needed, limit = passages * dim * 4, memory_limit()
    if limit is not None and needed > limit / 2:
        raise SettingsError(
            f"Ranking {passages:,} passages in memory needs {needed / 2**30:.1f} GB for their embeddings, more than "
            f"half of the {limit / 2**30:.1f} GB this machine gives this process. Build a FAISS index once "
            "(`dpr-nb index --model MODEL --corpus CORPUS --out INDEX`, which encodes to disk a batch at a time; "
            "`--index ivfpq` for a fraction of the memory) and evaluate through it (`dpr-nb eval --index INDEX`)."
        )


# BM25's term-frequency saturation (k1) and length normalisation (b): bm25s's defaults, which every figure in the docs
# used. The DPR paper's BM25 baseline (Lucene through Pyserini) used k1=0.9, b=0.4: pass those to compare with its
# tables.
BM25_K1, BM25_B = 1.5, 0.75
DPR_PAPER_BM25 = {"k1": 0.9, "b": 0.4}


def evaluate_corpus_bm25(
    examples: Sequence[DPRExample],
    corpus,
    ks: Sequence[int] = DEFAULT_KS,
    match: str = "id",
    char_level: bool | None = None,
    name: str = "BM25",
    k1: float = BM25_K1,
    b: float = BM25_B,
) -> CorpusResult:
    """The BM25 baseline on the same corpus and questions (bm25s, in-process; title and text are indexed), scored
    as Lucene scores BM25 with `k1` and `b` (the result's `settings` records them).

    `char_level` tokenises by characters (None: only when the corpus is mostly Chinese, Japanese or Thai).
    """
    import bm25s

    corpus = load_corpus(corpus)
    texts = [f"{p.title} {p.text}" for p in corpus]
    if char_level is None:
        char_level = looks_unspaced(texts[:1000])
    index = bm25s.BM25(k1=k1, b=b, method="lucene")
    index.index([tokenize(t, char_level) for t in texts], show_progress=False)
    questions = [tokenize(e.question, char_level) for e in examples]
    result = score_ranking(
        name,
        examples,
        corpus,
        lambda rows: np.stack([index.get_scores(q) for q in questions[rows]]).astype(np.float32),
        ks,
        match,
    )
    result.settings = {"k1": k1, "b": b}
    return result


def _column_order(column: str) -> tuple[int, int]:
    """questions, then top_{k}_accuracy, mrr_at_{k}, recall_at_{k} and the standard measures (dpr_nb.evaluation.trec:
    ndcg_at_{k}, map_at_{k}, precision_at_{k}), each with k ascending."""
    if column == "questions":
        return 0, 0
    if column.startswith("top_"):
        return 1, int(column.split("_")[1])
    kind, k = column.split("_at_")
    return ("mrr", "recall", "ndcg", "map", "precision").index(kind) + 2, int(k)


def comparison_table(results: Sequence[CorpusResult]) -> pd.DataFrame:
    """One row per retriever; columns grouped by measure (top-k accuracy, MRR@k, recall@k), k ascending."""
    table = pd.DataFrame({r.name: r.metrics for r in results}).T
    return table[sorted(table.columns, key=_column_order)]
