"""dpr_nb.evaluation.trec: the standard IR measures through ir_measures, against their definitions on a ranked toy
case, and TREC run files read back by ir_measures."""

import math

import numpy as np
import pytest

from dpr_nb.data.dpr_file import DPRExample, Passage
from dpr_nb.evaluation.corpus_eval import score_ranking

ir_measures = pytest.importorskip("ir_measures")

from dpr_nb.evaluation.trec import _judged, standard_measures, write_trec_run  # noqa: E402

CORPUS = [Passage("A", "alpha", "a"), Passage("B", "beta", "b"), Passage("C", "gamma", "c"), Passage("D", "delta", "d")]
QUESTIONS = [
    DPRExample("which is beta", [], [CORPUS[1]]),  # one gold passage
    DPRExample("alpha or delta", [], [CORPUS[0], CORPUS[3]]),  # two
]
SCORES = np.array([[0.9, 0.8, 0.1, 0.0], [0.2, 0.9, 0.1, 0.5]], dtype=np.float32)  # rankings a b c d; b d a c


def test_ndcg_and_map_follow_their_definitions_on_a_ranked_toy_case():
    result = score_ranking("toy", QUESTIONS, CORPUS, SCORES, ks=(4,))
    measures = standard_measures(result, QUESTIONS, CORPUS, ["nDCG@10", "AP@100", "P@2"])
    gain = lambda rank: 1 / math.log2(rank + 1)  # noqa: E731  (rank from 1)
    # question 0: its gold passage at rank 2; question 1: its two at ranks 2 and 3
    ndcg = [gain(2) / gain(1), (gain(2) + gain(3)) / (gain(1) + gain(2))]
    average_precision = [1 / 2, (1 / 2 + 2 / 3) / 2]
    assert measures["ndcg_at_10"] == pytest.approx(np.mean(ndcg))
    assert measures["map_at_100"] == pytest.approx(np.mean(average_precision))
    assert measures["precision_at_2"] == pytest.approx(np.mean([1 / 2, 1 / 2]))


def test_our_recall_at_k_is_ir_measures_r_at_k():
    result = score_ranking("toy", QUESTIONS, CORPUS, SCORES, ks=(1, 2, 3))
    qrels, run = _judged(result, QUESTIONS, CORPUS)
    for k in (1, 2, 3):
        theirs = ir_measures.calc_aggregate([ir_measures.parse_measure(f"R@{k}")], qrels, run)
        assert result.metrics[f"recall_at_{k}"] == pytest.approx(next(iter(theirs.values())))


def test_a_gold_passage_stored_twice_is_one_relevant_document():
    corpus = CORPUS + [Passage("B", "beta", "b-copy")]  # the same text under another id
    scores = np.array([[0.1, 0.8, 0.0, 0.0, 0.9]], dtype=np.float32)  # the copy first, then the original
    result = score_ranking("toy", QUESTIONS[:1], corpus, scores, ks=(5,))
    measures = standard_measures(result, QUESTIONS[:1], corpus, ["AP@5", "nDCG@5"])
    assert measures == {"map_at_5": 1.0, "ndcg_at_5": 1.0}  # found at rank 1; the copy's twin adds nothing
    assert result.metrics["recall_at_5"] == 1.0


def test_a_measure_we_do_not_name_is_refused():
    result = score_ranking("toy", QUESTIONS, CORPUS, SCORES, ks=(4,))
    with pytest.raises(ValueError, match="give nDCG@k, AP@k or P@k"):
        standard_measures(result, QUESTIONS, CORPUS, ["R@10"])


def test_a_trec_run_file_holds_the_ranking_and_reads_back(tmp_path):
    corpus = CORPUS[:3] + [Passage("D", "delta", "")]  # a blank id, as Haystack's converter writes
    result = score_ranking("my model", QUESTIONS, corpus, SCORES, ks=(3,))
    path = write_trec_run(tmp_path / "run.trec", result, corpus)
    lines = path.read_text().splitlines()
    assert lines[0] == "0 Q0 a 1 0.900000 my_model"
    assert lines[3] == "1 Q0 b 1 0.900000 my_model" and lines[4] == "1 Q0 position-3 2 0.500000 my_model"
    read = {}
    for scored in ir_measures.read_trec_run(str(path)):
        read.setdefault(scored.query_id, []).append((scored.score, scored.doc_id))
    assert {q: [d for _, d in sorted(docs, reverse=True)] for q, docs in read.items()} == {
        "0": ["a", "b", "c"],
        "1": ["b", "position-3", "a"],
    }
