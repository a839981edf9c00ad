"""The IR field's standard measures of a corpus ranking, computed by a maintained library, and TREC run files.

`standard_measures(result, examples, corpus)` gives nDCG@k, MAP (AP@k) and precision@k, as trec_eval defines them,
through ir_measures (`pip install ir-measures`), beside the top-k accuracy and MRR@k the DPR literature reports
(dpr_nb.evaluation.corpus_eval). `write_trec_run` writes a ranking in TREC's run format, which trec_eval,
ir_measures, ranx and Pyserini read.

    >>> measure_key("nDCG@10"), measure_key("AP@100"), measure_key("P@5")
    ('ndcg_at_10', 'map_at_100', 'precision_at_5')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import MissingDependencyError
from ..core.files import write_text_atomic
from ..data.dpr_file import DPRExample, Passage
from .corpus_eval import CorpusResult, gold_groups

# trec_eval's names -> ours, in the style of the metrics beside them (top_20_accuracy, mrr_at_10). Recall@k and MRR@k
# are corpus_eval's own (tests/test_trec.py checks recall@k against ir_measures' R@k).
NAMES = {"nDCG": "ndcg", "AP": "map", "P": "precision"}
MEASURE = re.compile(r"(nDCG|AP|P)@(\d+)")


def measure_key(measure: str) -> str:
    """ "nDCG@10" -> "ndcg_at_10": ir_measures' name of a measure, as our metrics dicts name it."""
    match = MEASURE.fullmatch(measure)
    if not match:
        raise ValueError(f"{measure!r}: give nDCG@k, AP@k or P@k (recall@k and MRR@k are always there)")
    return f"{NAMES[match[1]]}_at_{match[2]}"


def default_measures(ks: Sequence[int]) -> list[str]:
    """nDCG@10 (BEIR's headline) and MAP over the ranking's depth."""
    return ["nDCG@10", f"AP@{max(ks)}"]


def _judged(result: CorpusResult, examples: Sequence[DPRExample], corpus: Sequence[Passage]):
    """(qrels, run) as ir_measures takes them: each question's gold passages relevant, with their grades where the
    questions have them (BEIR's qrels) and 1 elsewhere, and its ranking.

    A gold passage the corpus holds several times (one text under several ids) is one document, as our recall@k
    counts it once. The run's scores are the ranks reversed, so that trec_eval keeps our order: it breaks ties by
    document id, where we keep corpus order."""
    import ir_measures

    qrels, run = [], []
    for row, (groups, indices) in enumerate(zip(gold_groups(examples, corpus, graded=True), result.top_indices)):
        question = str(row)
        document = {position: f"gold-{j}" for j, (group, _) in enumerate(groups) for position in group}
        qrels += [ir_measures.Qrel(question, f"gold-{j}", grade) for j, (_, grade) in enumerate(groups)]
        if groups:  # judged passages the corpus lacks: in the ideal ranking, never in the run (as BEIR scores them)
            unavailable = examples[row].unavailable_grades()
            qrels += [ir_measures.Qrel(question, f"absent-{j}", grade) for j, grade in enumerate(unavailable)]
        seen = set()
        for rank, position in enumerate(indices):
            if position < 0:  # a FAISS index found fewer passages than asked for
                break
            name = document.get(int(position), f"passage-{int(position)}")
            if name not in seen:  # a duplicate of a gold passage found again adds nothing
                seen.add(name)
                run.append(ir_measures.ScoredDoc(question, name, float(len(indices) - rank)))
    return qrels, run


def standard_measures(
    result: CorpusResult,
    examples: Sequence[DPRExample],
    corpus: Sequence[Passage],
    measures: Sequence[str] = ("nDCG@10", "AP@100"),
) -> dict[str, float]:
    """ir_measures' values of `measures` (trec_eval's definitions) on the ranking in `result`, the questions' gold
    passages relevant: {"ndcg_at_10": ..., "map_at_100": ...}. `corpus`: the passages `result` ranked, in its order
    (read once: a FAISS store's documents may stream). Averaged over the questions whose gold passage the
    corpus holds (trec_eval's convention; top-k accuracy counts the others as misses). A ranking deeper than
    `result` holds (R@1000 of a top-100 ranking) counts what lies beyond as not retrieved."""
    try:
        import ir_measures
    except ImportError as error:
        raise MissingDependencyError(
            "nDCG, MAP and the other standard measures come from ir_measures: pip install ir-measures"
        ) from error
    keys = {measure: measure_key(measure) for measure in measures}
    parsed = {ir_measures.parse_measure(measure): key for measure, key in keys.items()}
    qrels, run = _judged(result, examples, corpus)
    values = ir_measures.calc_aggregate(list(parsed), qrels, run)
    return {key: float(values.get(measure, 0.0)) for measure, key in parsed.items()}


def write_trec_run(
    path: str | Path,
    result: CorpusResult,
    corpus,
    run_name: str | None = None,
    examples: Sequence[DPRExample] | None = None,
) -> Path:
    """`result`'s ranking as a TREC run file: `question Q0 passage_id rank score run_name` a line, passages by their
    corpus id (its position where the id is blank), questions by the ids of `examples` where they have them (BEIR's
    query ids, so that the dataset's own qrels judge the run), else numbered from 0 in the order evaluated.
    `corpus`: the passages by position (a list, or a dict of the ranked positions)."""
    run_name = re.sub(r"\s+", "_", run_name or result.name) or "dpr_nb"
    lines = []
    for row, (indices, scores) in enumerate(zip(result.top_indices, result.top_scores)):
        question = (examples[row].question_id if examples is not None else None) or row
        for rank, (position, score) in enumerate(zip(indices, scores), start=1):
            if position < 0:  # a FAISS index found fewer passages than asked for
                break
            passage_id = corpus[int(position)].passage_id or f"position-{int(position)}"
            lines.append(f"{question} Q0 {passage_id} {rank} {float(score):.6f} {run_name}\n")
    write_text_atomic(path, "".join(lines))
    return Path(path)
