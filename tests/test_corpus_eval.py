import numpy as np
import pytest

from dpr_nb.data.dpr_file import DPRExample, Passage
from dpr_nb.evaluation.corpus_eval import (
    comparison_table,
    evaluate_corpus,
    evaluate_corpus_bm25,
    hit_matrix,
    load_corpus,
    retrieval_metrics,
)
from dpr_nb.search.document_store import Document

CORPUS = [
    Passage("Velmora", "Velmora lies on the river Osk.", "v"),
    Passage("Dorvan", "Dorvan is famous for its salt mines.", "d"),
    Passage("Osk", "The Osk flows north to the Pale Sea.", "o"),
    Passage("Kestria", "Kestria's capital is Velmora.", "k"),
]
QUESTIONS = [
    DPRExample("river of velmora", ["Osk"], [CORPUS[0]]),
    DPRExample("what is dorvan known for", ["salt"], [CORPUS[1]]),
    DPRExample("capital of kestria", ["Velmora"], [CORPUS[3]]),
]


class FixedRetriever:
    """Embeddings chosen by hand: the query vector's dot product with each passage's gives a known ranking."""

    similarity_function = "dot_product"
    passages = {"v": [1, 0, 0], "d": [0, 1, 0], "o": [0.9, 0, 0.1], "k": [0, 0, 1]}
    queries = {
        "river of velmora": [0.5, 0, 1.0],  # k 1.0, v 0.5, o 0.55 -> k, o, v, d: gold v at rank 2
        "what is dorvan known for": [0, 1, 0],  # d first
        "capital of kestria": [1, 0, 0.05],
    }  # v 1.0, o 0.905, k 0.05, d 0: gold k at rank 3

    def embed_documents(self, documents, batch_size=None):
        return np.array([self.passages[d.id] for d in documents], dtype=np.float32)

    def embed_queries(self, queries, batch_size=None):
        return np.array([self.queries[q] for q in queries], dtype=np.float32)


def test_metrics_against_hand_computed_values():
    hits = np.array(
        [
            [False, True, False, True],  # first hit at rank 2, two gold found in 4
            [True, False, False, False],
            [False, False, False, False],
        ]
    )
    found = hits.astype(int)  # each hit is a different gold passage here
    metrics = retrieval_metrics(hits, ks=(1, 2, 4), num_gold=np.array([2, 1, 1]), gold_found=found)
    assert metrics["top_1_accuracy"] == pytest.approx(1 / 3)
    assert metrics["top_2_accuracy"] == pytest.approx(2 / 3)
    assert metrics["mrr_at_1"] == pytest.approx(1 / 3)
    assert metrics["mrr_at_4"] == pytest.approx((1 / 2 + 1) / 3)
    assert metrics["recall_at_2"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert metrics["recall_at_4"] == pytest.approx((2 / 2 + 1 + 0) / 3)


def test_dense_ranking_of_a_hand_built_case():
    result = evaluate_corpus(FixedRetriever(), QUESTIONS, CORPUS, ks=(1, 2, 4))
    assert result.top_indices.tolist() == [[3, 2, 0, 1], [1, 0, 2, 3], [0, 2, 3, 1]]
    assert result.gold_ranks.tolist() == [2, 0, 2]  # 0-based
    assert result.metrics["top_1_accuracy"] == pytest.approx(1 / 3)
    assert result.metrics["top_4_accuracy"] == 1.0
    assert result.metrics["mrr_at_4"] == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)


def test_answer_matching_counts_any_passage_with_the_answer():
    result = evaluate_corpus(FixedRetriever(), QUESTIONS, CORPUS, ks=(1, 2), match="answer")
    # Question 1's first passage (Kestria's) has no "Osk", its second (the Osk's) does; question 3's first
    # passage (Velmora's) contains the answer "Velmora" though it is not the gold passage.
    assert result.hits[:, :2].tolist() == [[False, True], [True, False], [True, False]]
    assert result.metrics["top_1_accuracy"] == pytest.approx(2 / 3)
    either = hit_matrix(QUESTIONS, CORPUS, result.top_indices, "either")
    assert (either >= result.hits).all()


def lucene_bm25(query: list[str], documents: list[list[str]], k1: float, b: float) -> np.ndarray:
    """BM25 as Lucene scores it, written from its definition: each query word in a document adds
    idf * tf / (tf + k1 (1 - b + b |d| / avgdl)), idf = ln(1 + (N - df + 0.5) / (df + 0.5))."""
    average = np.mean([len(d) for d in documents])
    scores = np.zeros(len(documents))
    for word in set(query):
        df = sum(word in d for d in documents)
        idf = np.log(1 + (len(documents) - df + 0.5) / (df + 0.5))
        for i, d in enumerate(documents):
            tf = d.count(word)
            scores[i] += idf * tf / (tf + k1 * (1 - b + b * len(d) / average)) if tf else 0.0
    return scores


@pytest.mark.parametrize("k1, b", [(1.5, 0.75), (0.9, 0.4), (1.2, 0.0)])
def test_bm25_scores_are_lucenes_with_the_k1_and_b_given(k1, b):
    from dpr_nb.data.matching import tokenize

    question = DPRExample("velmora on the river osk", ["Osk"], [CORPUS[0]])
    result = evaluate_corpus_bm25([question], CORPUS, ks=(4,), k1=k1, b=b)
    assert result.settings == {"k1": k1, "b": b}
    documents = [tokenize(f"{p.title} {p.text}", False) for p in CORPUS]
    expected = lucene_bm25(tokenize(question.question, False), documents, k1, b)
    order = np.argsort(-expected, kind="stable")
    np.testing.assert_allclose(result.top_scores[0], expected[order], rtol=1e-5)
    assert list(result.top_indices[0]) == list(order)


def test_bm25_length_normalisation_follows_b():
    """Two passages hold the question's word once; the longer one ranks lower with b=1 and ties with b=0."""
    corpus = [Passage("", "osk " + "filler " * 12, "long"), Passage("", "osk river", "short")]
    question = DPRExample("osk", [], [corpus[0]])
    normalised = evaluate_corpus_bm25([question], corpus, ks=(2,), b=1.0)
    assert [corpus[i].passage_id for i in normalised.top_indices[0]] == ["short", "long"]
    flat = evaluate_corpus_bm25([question], corpus, ks=(2,), b=0.0)
    assert flat.top_scores[0][0] == pytest.approx(flat.top_scores[0][1])


def test_bm25_ranks_first_the_passage_sharing_the_rare_words():
    result = evaluate_corpus_bm25([DPRExample("dorvan salt mines", ["salt"], [CORPUS[1]])], CORPUS, ks=(1,))
    assert result.top_indices[0, 0] == 1 and result.metrics["top_1_accuracy"] == 1.0


def test_corpus_from_tsv_dpr_file_and_documents(tmp_path):
    tsv = tmp_path / "passages.tsv"
    tsv.write_text("id\ttext\ttitle\n1\tVelmora lies on the Osk.\tVelmora\n2\tDorvan has salt.\tDorvan\n")
    assert [p.passage_id for p in load_corpus(tsv)] == ["1", "2"]
    documents = [Document(content="a text", meta={"name": "T"}, id="x")]
    assert load_corpus(documents) == [Passage("T", "a text", "x")]


def test_gold_missing_from_the_corpus_has_no_rank():
    outsider = DPRExample("river of velmora", ["Nile"], [Passage("Elsewhere", "not in the corpus", "zz")])
    result = evaluate_corpus(FixedRetriever(), [outsider], CORPUS, ks=(4,))
    assert result.gold_ranks.tolist() == [-1] and result.metrics["top_4_accuracy"] == 0.0
    assert result.metrics["recall_at_4"] == 0.0


def test_comparison_table_has_a_row_per_retriever():
    dense = evaluate_corpus(FixedRetriever(), QUESTIONS, CORPUS, ks=(1, 4))
    bm25 = evaluate_corpus_bm25(QUESTIONS, CORPUS, ks=(1, 4))
    table = comparison_table([dense, bm25])
    assert list(table.index) == ["dense", "BM25"]
    assert table.loc["dense", "top_1_accuracy"] == pytest.approx(1 / 3)


def test_training_keeps_the_best_weights_by_a_corpus_metric():
    from dpr_nb import TrainConfig
    from dpr_nb.data.splits import load_splits
    from dpr_nb.evaluation.corpus_eval import load_corpus
    from dpr_nb.model.encoders import BiEncoder, tiny_encoder
    from dpr_nb.retriever import DensePassageRetriever
    from dpr_nb.training.trainer import Trainer

    splits = load_splits("builtin", "")
    config = TrainConfig.preset(
        "smoke",
        max_samples=160,
        n_epochs=6,
        evaluate_every=10,
        save_dir=None,
        eval_corpus="builtin",
        selection_metric="mrr_at_10",
    )
    model = BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2))
    trainer = Trainer(model, config, splits["train"][:160], splits["dev"][:40], progress_bar=False)
    history = trainer.train()
    dev = [e for e in history.evaluations if e["split"] == "dev"]
    assert len(dev) == 6 and all("top_20_accuracy" in e and "mrr_at_10" in e for e in dev)
    best = max(dev, key=lambda e: e["mrr_at_10"])
    assert best["mrr_at_10"] > dev[-1]["mrr_at_10"]  # the last weights are not the best: restoring them matters
    assert history.best == {"step": best["step"], "metric": "mrr_at_10", "value": best["mrr_at_10"]}
    # The model left behind is the best evaluation's: evaluating it again gives that value.
    retriever = DensePassageRetriever(model=model, max_seq_len_query=32, max_seq_len_passage=64, use_gpu=False)
    again = evaluate_corpus(retriever, splits["dev"][:40], load_corpus("builtin"), ks=(10,))
    assert again.metrics["mrr_at_10"] == pytest.approx(best["mrr_at_10"], abs=1e-6)


def test_early_stopping_stops_when_the_metric_stops_improving():
    from dpr_nb import TrainConfig
    from dpr_nb.data.splits import load_splits
    from dpr_nb.model.encoders import BiEncoder, tiny_encoder
    from dpr_nb.training.trainer import Trainer

    splits = load_splits("builtin", "")
    # A learning rate far too high: the dev loss gets worse after the first evaluation, so training stops after
    # `patience` evaluations without a gain, keeping the first evaluation's weights.
    config = TrainConfig.preset(
        "smoke",
        max_samples=160,
        n_epochs=10,
        evaluate_every=2,
        learning_rate=0.5,
        num_warmup_steps=0,
        save_dir=None,
        selection_metric="loss",
        early_stopping_patience=2,
    )
    trainer = Trainer(
        BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)),
        config,
        splits["train"][:160],
        splits["dev"][:32],
        progress_bar=False,
    )
    history = trainer.train()
    losses = [e["loss"] for e in history.evaluations]
    best_index = losses.index(min(losses))
    assert history.stopped_early_at == history.evaluations[-1]["step"] < 100
    assert len(losses) == best_index + 1 + 2  # the best, then exactly `patience` evaluations without a gain
    assert history.best["step"] == history.evaluations[best_index]["step"]


def test_a_model_trained_with_eval_corpus_gets_its_metrics_and_curves_in_the_card(tmp_path):
    from dpr_nb import TrainConfig
    from dpr_nb.retriever import DensePassageRetriever

    retriever = DensePassageRetriever(
        query_embedding_model="dpr-nb/tiny-bert",
        passage_embedding_model="dpr-nb/tiny-bert",
        use_gpu=False,
        progress_bar=False,
    )
    config = TrainConfig.preset(
        "smoke", max_samples=32, n_epochs=1, eval_corpus="builtin", save_dir=str(tmp_path / "model")
    )
    retriever.train(config=config)
    assert set(retriever.corpus_results) == {"dev", "test"}
    card = (tmp_path / "model" / "README.md").read_text(encoding="utf-8")
    top_20 = retriever.corpus_results["test"].metrics["top_20_accuracy"]
    assert "test, full corpus" in card and f"{top_20:.4f}"[:5] in card
    assert (tmp_path / "model" / "top_k_accuracy.png").is_file()


class ScoresRetriever(FixedRetriever):
    """FixedRetriever with vectors given per test."""

    def __init__(self, passages, queries):
        self.passages, self.queries = passages, queries


def test_recall_never_exceeds_one_when_many_passages_hold_the_answer():
    """--match answer used to count every answer-holding passage against one gold passage: recall@4 = 3.0."""
    corpus = [
        Passage("A", "Osk is a river.", "a"),
        Passage("B", "The Osk again.", "b"),
        Passage("C", "Osk, a third time.", "c"),
        Passage("D", "Nothing.", "d"),
    ]
    question = DPRExample("which river", ["Osk"], [corpus[0]])
    retriever = ScoresRetriever({"a": [1.0], "b": [3.0], "c": [2.0], "d": [0.0]}, {"which river": [1.0]})
    result = evaluate_corpus(retriever, [question], corpus, ks=(1, 4), match="answer")
    assert result.metrics["top_1_accuracy"] == 1.0  # "b" holds the answer
    assert result.metrics["recall_at_1"] == 0.0 and result.metrics["recall_at_4"] == 1.0  # gold "a" is 3rd


def test_a_gold_text_stored_under_two_ids_is_one_gold_passage():
    corpus = [
        Passage("A", "Osk is a river.", "a"),
        Passage("A", "Osk is a river.", "a-copy"),
        Passage("D", "Nothing.", "d"),
    ]
    question = DPRExample("which river", ["Osk"], [corpus[0]])
    retriever = ScoresRetriever({"a": [2.0], "a-copy": [3.0], "d": [1.0]}, {"which river": [1.0]})
    result = evaluate_corpus(retriever, [question], corpus, ks=(1, 3))
    assert result.metrics["recall_at_3"] == 1.0 and result.metrics["recall_at_1"] == 1.0
    assert result.gold_ranks.tolist() == [0]


def test_a_tied_gold_passage_gets_the_rank_top_indices_gives_it():
    """Ties are broken by corpus order everywhere: a gold passage tied with two earlier ones is 3rd, not 1st."""
    corpus = [Passage("X", "x", "x"), Passage("Y", "y", "y"), Passage("G", "g", "g"), Passage("Z", "z", "z")]
    question = DPRExample("q", ["g"], [corpus[2]])
    retriever = ScoresRetriever({"x": [1.0], "y": [1.0], "g": [1.0], "z": [0.0]}, {"q": [1.0]})
    result = evaluate_corpus(retriever, [question], corpus, ks=(1, 2, 3))
    assert result.top_indices.tolist() == [[0, 1, 2]]
    assert result.gold_ranks.tolist() == [2]
    assert result.metrics["top_2_accuracy"] == 0.0 and result.metrics["top_3_accuracy"] == 1.0
    # The same with the boundary inside the tie: the top 2 of 4 tied passages are the first two in the corpus.
    retriever = ScoresRetriever({"x": [1.0], "y": [1.0], "g": [1.0], "z": [1.0]}, {"q": [1.0]})
    assert evaluate_corpus(retriever, [question], corpus, ks=(2,)).top_indices.tolist() == [[0, 1]]


def test_ranking_block_by_block_gives_the_whole_matrix_ranking(monkeypatch):
    """A large corpus is ranked a block of questions at a time; blocks of one question give exactly what the whole
    (questions, corpus) matrix gives, ties included, for dense scores and for BM25."""
    from dpr_nb.data.splits import load_splits
    from dpr_nb.evaluation import corpus_eval

    examples, corpus = load_splits("builtin", "")["test"][:40], load_corpus("builtin")
    scores = np.random.default_rng(0).standard_normal((40, len(corpus))).astype(np.float32).round(1)  # many ties
    whole = corpus_eval.score_ranking("whole", examples, corpus, scores, ks=(1, 5, 100))
    whole_bm25 = evaluate_corpus_bm25(examples, corpus, ks=(1, 5, 100))
    monkeypatch.setattr(corpus_eval, "BLOCK_SCORES", len(corpus))  # one question a block
    asked = []

    def rows_of(rows):
        asked.append((rows.start, rows.stop))
        return scores[rows]

    blocked = corpus_eval.score_ranking("blocks", examples, corpus, rows_of, ks=(1, 5, 100))
    assert asked == [(n, n + 1) for n in range(40)]
    blocked_bm25 = evaluate_corpus_bm25(examples, corpus, ks=(1, 5, 100))
    for a, b in ((whole, blocked), (whole_bm25, blocked_bm25)):
        assert a.metrics == b.metrics
        np.testing.assert_array_equal(a.top_indices, b.top_indices)
        np.testing.assert_array_equal(a.top_scores, b.top_scores)
        np.testing.assert_array_equal(a.gold_ranks, b.gold_ranks)


def test_an_in_memory_ranking_that_cannot_fit_is_refused_before_encoding(monkeypatch):
    from dpr_nb.core.errors import SettingsError
    from dpr_nb.evaluation import corpus_eval

    monkeypatch.setattr(corpus_eval, "memory_limit", lambda: 2 * 2**30)  # Binder's 2 GB
    corpus_eval.check_embeddings_fit(300_000, 768)  # 0.86 GB: fits in half
    with pytest.raises(SettingsError, match=r"1,000,000 passages in memory needs 2.9 GB .*`dpr-nb eval --index"):
        corpus_eval.check_embeddings_fit(1_000_000, 768)
