"""Dense hard-negative mining: the DPR paper's second round of training data.

BM25 hard negatives share words with the question. Once a model is trained, the passages *it* ranks highest
without containing an answer are harder still: training again on them teaches what BM25 negatives cannot.

    >>> from dpr_nb import DensePassageRetriever                                      # doctest: +SKIP
    >>> retriever = DensePassageRetriever.load("saved_models/dpr")                    # doctest: +SKIP
    >>> mine_hard_negatives(retriever, "train.json", "train-mined.json", num_hard_negatives=30)  # doctest: +SKIP

or `dpr-nb data mine --model saved_models/dpr train.json train-mined.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.files import write_text_atomic
from ..data.dpr_file import parse_record, raw_records
from ..data.matching import has_answer
from ..data.passages import read_passages_tsv
from ..evaluation.corpus_eval import embed_for_ranking


def mine_hard_negatives(
    retriever,
    source: str | Path,
    target: str | Path,
    corpus: str | Path | None = None,
    num_hard_negatives: int = 30,
    batch_size: int = 64,
) -> dict:
    """Rewrite a DPR file with each question's top-ranked passages that contain no answer as its hard negatives.

    The corpus is a passages TSV, or by default every passage of the file itself. A question's own positives and
    any passage that contains one of its answers (has_answer) are never taken. Returns counts; the target is
    written to a temporary file first and renamed. Records keep all their other fields.
    """
    source, target = Path(source), Path(target)
    records = [record for record, _ in raw_records(source)]
    examples = [parse_record(r, f"{source}, record {i}") for i, r in enumerate(records, start=1)]
    if corpus is not None:
        passages = read_passages_tsv(corpus)
    else:
        passages = list({p.key: p for e in examples for p in (*e.positives, *e.hard_negatives, *e.negatives)}.values())
    query_embeddings, passage_embeddings = embed_for_ranking(
        retriever, [e.question for e in examples], passages, batch_size
    )
    short = 0
    for record, example, query in zip(records, examples, query_embeddings):
        scores = passage_embeddings @ query  # (passages,)
        # A positive by id, or by its title and text: a Haystack file's gold paragraph has no id, a corpus gives it one.
        positive = {key for p in example.positives for key in (p.key, p.text_key)}
        mined = []
        for index in np.argsort(-scores, kind="stable"):
            passage = passages[index]
            if passage.key in positive or passage.text_key in positive or has_answer(passage.text, example.answers):
                continue
            mined.append(
                {
                    "title": passage.title,
                    "text": passage.text,
                    "score": float(scores[index]),
                    "title_score": 0,
                    "passage_id": passage.passage_id,
                }
            )
            if len(mined) == num_hard_negatives:
                break
        short += len(mined) < num_hard_negatives
        record["hard_negative_ctxs"] = mined
    write_text_atomic(target, json.dumps(records, ensure_ascii=False, indent=1) + "\n")
    return {"questions": len(records), "passages": len(passages), "questions_short_of_negatives": short}
