import matplotlib

matplotlib.use("Agg")  # no display in tests; the library itself never chooses a backend

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from dpr_nb.data.batches import collate  # noqa: E402
from dpr_nb.data.dpr_file import BatchSampler  # noqa: E402
from dpr_nb.data.splits import load_splits  # noqa: E402
from dpr_nb.evaluation.corpus_eval import CorpusResult  # noqa: E402
from dpr_nb.evaluation.plots import (  # noqa: E402
    batch_similarities,
    plot_gold_ranks,
    plot_report,
    plot_similarity_heatmap,
    plot_top_k,
    plot_training,
    top_k_accuracy,
)
from dpr_nb.evaluation.report import ranking_report  # noqa: E402
from dpr_nb.model.encoders import BiEncoder, tiny_encoder  # noqa: E402
from dpr_nb.retriever import DensePassageRetriever  # noqa: E402
from dpr_nb.search.document_store import Document  # noqa: E402
from dpr_nb.training.trainer import History  # noqa: E402

HISTORY = History(
    steps=[
        {"step": s, "epoch": 0, "loss": loss, "learning_rate": lr}
        for s, loss, lr in [(1, 2.0, 1e-5), (2, 1.5, 2e-5), (3, 1.2, 1.5e-5), (4, 0.9, 1e-5)]
    ],
    evaluations=[
        {"step": 2, "split": "dev", "loss": 1.7, "acc": 0.8, "f1": 0.4, "average_rank": 1.0},
        {"step": 4, "split": "dev", "loss": 1.1, "acc": 0.9, "f1": 0.6, "average_rank": 0.5},
        {"step": 4, "split": "test", "loss": 1.3, "acc": 0.85, "f1": 0.5, "average_rank": 0.7},
    ],
    best={"step": 4, "metric": "loss", "value": 1.1},
)


def lines_by_label(figure: Figure) -> dict:
    return {line.get_label(): line for axis in figure.axes for line in axis.lines}


def result(name: str, hits: np.ndarray, gold_ranks=None) -> CorpusResult:
    n, k = hits.shape
    return CorpusResult(
        name,
        {},
        np.zeros((n, k), dtype=int),
        np.zeros((n, k)),
        hits,
        np.zeros(n, dtype=int) if gold_ranks is None else np.asarray(gold_ranks),
    )


@pytest.mark.parametrize("as_dict", [False, True])
def test_training_plot_holds_losses_evaluations_and_learning_rates(as_dict):
    figure = plot_training(HISTORY.to_dict() if as_dict else HISTORY)
    assert isinstance(figure, Figure)
    lines = lines_by_label(figure)
    assert lines["training loss"].get_xdata().tolist() == [1, 2, 3, 4]
    assert lines["training loss"].get_ydata().tolist() == [2.0, 1.5, 1.2, 0.9]
    assert lines["learning rate"].get_ydata().tolist() == [1e-5, 2e-5, 1.5e-5, 1e-5]
    assert lines["dev loss"].get_xdata().tolist() == [2, 4] and lines["dev loss"].get_ydata().tolist() == [1.7, 1.1]
    assert lines["test loss"].get_xdata().tolist() == [4] and lines["test loss"].get_ydata().tolist() == [1.3]
    # The learning rate has its own (twin) axis: its values are 1e-5, the losses about 1.
    assert lines["learning rate"].axes is not lines["training loss"].axes
    legend = figure.axes[0].get_legend()
    assert {t.get_text() for t in legend.get_texts()} >= {"training loss", "dev loss", "learning rate"}


def test_training_plot_of_an_empty_history_says_so():
    with pytest.raises(ValueError, match="empty"):
        plot_training(History())


def bar_heights(figure: Figure) -> list[list[float]]:
    return [[bar.get_height() for bar in container] for container in figure.axes[0].containers]


def test_gold_rank_histogram_counts_each_bin_and_the_overflow_and_missing_bins():
    ranks = np.array([0, 0, 1, 3, 4, 5, 9, -1, -1, -1])
    figure = plot_gold_ranks(ranks, max_rank=4)
    # ranks 0, 1, 2, 3, then ≥4 (4, 5, 9), then missing (three -1)
    assert bar_heights(figure) == [[2, 1, 0, 1, 3, 3]]
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert labels == ["0", "1", "2", "3", "≥4", "missing"]
    assert figure.axes[0].get_legend() is None  # one unnamed series


def test_gold_rank_histograms_of_several_retrievers_side_by_side():
    figure = plot_gold_ranks({"untrained": [7, 2, -1], "trained": [0, 0, 1]}, max_rank=3)
    assert bar_heights(figure) == [[0, 0, 1, 1, 1], [2, 1, 0, 0, 0]]
    assert [c.get_label() for c in figure.axes[0].containers] == ["untrained", "trained"]
    # CorpusResults are named by their name, and labels rename the series.
    hits = np.zeros((2, 1), dtype=bool)
    figure = plot_gold_ranks([result("a", hits, [0, 5]), result("b", hits, [1, 1])], max_rank=2, labels=["x", "y"])
    assert [c.get_label() for c in figure.axes[0].containers] == ["x", "y"]
    assert bar_heights(figure) == [[1, 0, 1, 0], [0, 2, 0, 0]]
    with pytest.raises(ValueError, match="labels"):
        plot_gold_ranks([1, 2], labels=["a", "b"])


def test_report_bars_are_the_report_table():
    scores = [torch.tensor([[3.0, 1.0, 2.0, 0.0], [0.0, 1.0, 2.0, 0.5], [0.0, 0.0, 1.0, 3.0]])]
    # Question 1 has two positives: 3 predicted positives for 4 actual ones, so precision and recall differ.
    mask = [torch.tensor([[True, False, True, False], [False, True, False, False], [False, False, False, True]])]
    report = ranking_report(scores, mask)
    table = report["report"]
    assert table.loc["positive", "precision"] != table.loc["positive", "recall"]
    figure = plot_report(report)
    containers = figure.axes[0].containers
    assert [c.get_label() for c in containers] == ["precision", "recall", "f1-score"]
    for container in containers:
        measure = container.get_label()
        heights = [bar.get_height() for bar in container]
        assert heights == pytest.approx([table.loc["positive", measure], table.loc["hard_negative", measure]])
    assert "4 passages" in figure.axes[0].get_title()
    # The DataFrame alone works too, without the number of candidates.
    assert bar_heights(plot_report(table)) == bar_heights(figure)


def test_top_k_curves_are_hand_computed_accuracies():
    hits = np.array(
        [
            [False, True, False, False],  # first hit at rank 2
            [True, False, False, False],  # rank 1
            [False, False, False, True],  # rank 4
            [False, False, False, False],
        ]
    )  # none
    assert top_k_accuracy(hits).tolist() == [0.25, 0.5, 0.5, 0.75]
    untrained = np.array([[False, False, True, False]] + [[False] * 4] * 3)
    figure = plot_top_k([result("trained", hits), result("untrained", untrained)])
    lines = lines_by_label(figure)
    assert lines["trained"].get_xdata().tolist() == [1, 2, 3, 4]
    assert lines["trained"].get_ydata().tolist() == [0.25, 0.5, 0.5, 0.75]
    assert lines["untrained"].get_ydata().tolist() == [0.0, 0.0, 0.25, 0.25]
    assert figure.axes[0].get_xscale() == "log"
    # A dict of hits, cut at max_k.
    line = plot_top_k({"BM25": hits}, max_k=2).axes[0].lines[0]
    assert line.get_label() == "BM25" and line.get_ydata().tolist() == [0.25, 0.5]


def test_heatmap_shows_the_scores_and_outlines_every_positive():
    scores = np.array([[2.0, 0.5, 1.0, -1.0], [0.1, 1.0, 3.0, 0.0]])
    mask = np.array([[True, False, False, False], [False, True, False, True]])
    figure = plot_similarity_heatmap(torch.tensor(scores), torch.tensor(mask), ["q1", "q2"], list("abcd"))
    axis = figure.axes[0]
    np.testing.assert_array_equal(axis.images[0].get_array(), scores)
    outlined = sorted((int(p.get_y() + 0.5), int(p.get_x() + 0.5)) for p in axis.patches if isinstance(p, Rectangle))
    assert outlined == [(0, 0), (1, 1), (1, 3)] and len(outlined) == mask.sum()
    assert [t.get_text() for t in axis.get_yticklabels()] == ["q1", "q2"]
    assert len(figure.axes) == 2  # the heatmap and its colorbar
    with pytest.raises(ValueError, match="shape"):
        plot_similarity_heatmap(scores, mask[:, :3])


@pytest.fixture(scope="module")
def test_examples():
    return load_splits("builtin", "")["test"][:4]


@pytest.fixture(scope="module")
def tiny_retriever():
    return DensePassageRetriever(
        model=BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)), use_gpu=False, progress_bar=False
    )


def test_batch_similarities_are_the_retrievers_dot_products(tiny_retriever, test_examples):
    examples = test_examples
    scores, mask, questions, passage_labels = batch_similarities(tiny_retriever, examples, num_hard_negatives=1)
    # The batch training would see: the same passages in the same order, the same mask.
    items = next(iter(BatchSampler(examples, 8, 1, 1, shuffle=False)))
    model = tiny_retriever.model
    batch = collate(
        items,
        model.query_encoder.tokenizer,
        model.passage_encoder.tokenizer,
        tiny_retriever.max_seq_len_query,
        tiny_retriever.max_seq_len_passage,
        tiny_retriever.embed_title,
    )
    np.testing.assert_array_equal(mask, batch.positive_mask.numpy())
    assert scores.shape == mask.shape == (4, len(batch.passage_keys)) and (mask.sum(axis=1) == 1).all()
    assert questions == [e.question for e in examples] and len(passage_labels) == scores.shape[1]
    # Each question's positive is its own first passage in the batch.
    first_passage = [batch.passage_keys.index(e.positives[0].text_key) for e in examples]
    assert mask.argmax(axis=1).tolist() == first_passage
    # Scores: the retriever's query embeddings against its passage embeddings.
    passages = {p.text_key: p for _, positives, negatives in items for p in (*positives, *negatives)}
    documents = [Document(content=passages[k].text, meta={"name": passages[k].title}) for k in batch.passage_keys]
    expected = tiny_retriever.embed_queries(questions) @ tiny_retriever.embed_documents(documents).T
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)
    figure = plot_similarity_heatmap(scores, mask, questions, passage_labels)
    assert sum(isinstance(p, Rectangle) for p in figure.axes[0].patches) == 4


def test_batch_similarities_leave_the_models_mode_alone(tiny_retriever, test_examples):
    tiny_retriever.model.train()
    scores, mask, _, _ = batch_similarities(tiny_retriever, test_examples, num_hard_negatives=2, batch_size=2)
    assert scores.shape == (2, 6) and mask.sum() == 2  # 2 questions, each with a positive and 2 hard negatives
    assert tiny_retriever.model.training


# --- Several runs -------------------------------------------------------------------------------------------------


def sweep_table():
    import pandas as pd

    return pd.DataFrame(
        {
            "batch_size": [4, 4, 16, 16, 64, 64],
            "grad_cache_chunk_size": [None, None, 4, 4, None, None],
            "top_5_accuracy": [0.30, 0.34, 0.41, 0.45, 0.20, 0.20],
            "questions": [100] * 6,
        },
        index=[f"run{i}" for i in range(6)],
    )


def test_plot_setting_draws_the_mean_and_std_over_seeds():
    from dpr_nb.evaluation.plots import plot_setting

    figure = plot_setting(sweep_table(), "batch_size", "top_5_accuracy")
    axis = figure.axes[0]
    (bars,) = axis.containers
    line, _, (segments,) = bars.lines
    assert line.get_xdata().tolist() == [4, 16, 64]
    assert line.get_ydata() == pytest.approx([0.32, 0.43, 0.20])
    # each bar spans mean ± the standard deviation of its seeds (n - 1): 0.02 * sqrt(2) for the first two
    spans = [segment[1, 1] - segment[0, 1] for segment in segments.get_segments()]
    assert spans == pytest.approx([2 * 0.0282843, 2 * 0.0282843, 0.0], abs=1e-6)
    assert axis.get_xscale() == "log"  # 4 to 64: an order of magnitude
    assert "one question = 0.01" in axis.get_title()
    # None (no caching) is a value of its own, on a categorical axis
    categorical = plot_setting(sweep_table(), "grad_cache_chunk_size", "top_5_accuracy").axes[0]
    assert [t.get_text() for t in categorical.get_xticklabels()] == ["None", "4"]
    with pytest.raises(ValueError, match="'top5' is not a column"):
        plot_setting(sweep_table(), "batch_size", "top5")


def test_plot_setting_draws_no_bar_for_a_point_with_one_run():
    import pandas as pd

    from dpr_nb.evaluation.plots import plot_setting

    # batch 4: one run, no spread measured; batch 16: two runs, 0.41 and 0.45, mean 0.43, sample std (n - 1)
    # sqrt(((0.41 - 0.43)^2 + (0.45 - 0.43)^2) / 1) = 0.02 * sqrt(2) = 0.0282843.
    table = pd.DataFrame({"batch_size": [4, 16, 16], "top_5_accuracy": [0.30, 0.41, 0.45], "questions": [100] * 3})
    axis = plot_setting(table, "batch_size", "top_5_accuracy").axes[0]
    (container,) = axis.containers
    line, caps, (bar_lines,) = container.lines
    assert line.get_ydata() == pytest.approx([0.30, 0.43])
    # A bar that matplotlib would draw: a segment with finite ends, keyed by its x, valued by its half-length.
    drawn = {
        float(segment[0, 0]): (segment[1, 1] - segment[0, 1]) / 2
        for segment in map(np.asarray, bar_lines.get_segments())
        if segment.size and np.isfinite(segment).all()
    }
    assert drawn == {16.0: pytest.approx(0.0282843, abs=1e-6)}
    # Nor a cap at the one-run point: every cap that is drawn sits at x = 16.
    cap_points = np.concatenate([cap.get_xydata() for cap in caps])
    assert cap_points[np.isfinite(cap_points).all(axis=1), 0].tolist() == [16.0, 16.0]


def test_plot_heatmap_cells_are_the_means_over_seeds():
    from dpr_nb.evaluation.plots import plot_heatmap

    table = sweep_table()
    table["learning_rate"] = [1e-4, 1e-3] * 3
    figure = plot_heatmap(table, "batch_size", "learning_rate", "top_5_accuracy")
    grid = figure.axes[0].images[0].get_array()
    # rows: learning rate 1e-4, 1e-3; columns: batch 4, 16, 64 (one run each)
    np.testing.assert_allclose(np.asarray(grid), [[0.30, 0.41, 0.20], [0.34, 0.45, 0.20]])
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["4", "16", "64"]


def test_plot_runs_overlays_runs_coloured_by_setting():
    from dpr_nb import TrainConfig
    from dpr_nb.evaluation.plots import plot_runs
    from dpr_nb.training.runs import Run

    def run(name, batch_size, seed, losses):
        steps = [{"step": i + 1, "loss": loss, "learning_rate": 1e-3} for i, loss in enumerate(losses)]
        return Run(None, name, "finished", TrainConfig(batch_size=batch_size, seed=seed), History(steps=steps))

    runs = [run("a", 4, 0, [3, 2, 1]), run("b", 4, 1, [3, 2.5, 1.5]), run("c", 16, 0, [4, 3, 2])]
    axis = plot_runs(runs, by="batch_size", x="questions", window=1).axes[0]
    lines = axis.get_lines()
    assert len(lines) == 3
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()  # seeds of one setting: one colour
    assert lines[2].get_xdata().tolist() == [16, 32, 48]  # questions seen: steps x batch size
    assert [t.get_text() for t in axis.get_legend().get_texts()] == ["batch_size=4", "batch_size=16"]
    smoothed = plot_runs(runs[:1], window=2).axes[0].get_lines()[0]
    assert smoothed.get_ydata().tolist() == [2.5, 1.5] and smoothed.get_xdata().tolist() == [2, 3]
