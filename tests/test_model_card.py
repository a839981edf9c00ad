import pytest
import torch
from matplotlib.figure import Figure

import dpr_nb.core.files
from dpr_nb import TrainConfig
from dpr_nb.evaluation.report import ranking_report
from dpr_nb.model.encoders import BiEncoder, tiny_encoder
from dpr_nb.retriever import DensePassageRetriever
from dpr_nb.training.model_card import model_card, write_model_card
from dpr_nb.training.trainer import History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CONFIG = TrainConfig(
    query_model="bert-base-uncased",
    passage_model="bert-base-uncased",
    data_dir="data/nq",
    train_filename="nq-train.json",
    dev_filename="nq-dev.json",
    max_samples=1234,
    learning_rate=3e-5,
    batch_size=24,
    similarity_function="dot_product",
)
HISTORY = History(
    steps=[{"step": s, "epoch": 0, "loss": 2.0 / s, "learning_rate": 1e-5} for s in range(1, 9)],
    evaluations=[
        {
            "step": 8,
            "split": "dev",
            "loss": 0.42,
            "acc": 0.9,
            "f1": 0.75,
            "num_questions": 8,
            "num_candidates": 16.0,
            "top_20_accuracy": 0.6875,
        }
    ],
)
CORPUS_METRICS = {
    "dense": {"questions": 40, "top_20_accuracy": 0.8125, "mrr_at_10": 0.55},
    "BM25": {"questions": 40, "top_20_accuracy": 0.625, "mrr_at_10": 0.4},
}


def dev_report() -> dict:
    scores = [torch.tensor([[3.0, 1.0, 2.0], [0.0, 1.0, 2.0]])]  # ranks 0 and 1
    masks = [torch.tensor([[True, False, False], [False, True, False]])]
    return ranking_report(scores, masks, losses=[0.75])


@pytest.fixture(scope="module")
def retriever():
    retriever = DensePassageRetriever(
        model=BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)), use_gpu=False, progress_bar=False
    )
    retriever.train_config, retriever.history, retriever.reports = CONFIG, HISTORY, {"dev": dev_report()}
    return retriever


def test_card_names_the_given_metrics_with_their_values():
    card = model_card(config=CONFIG, corpus_metrics=CORPUS_METRICS)
    assert "| model | questions | top_20_accuracy | mrr_at_10 |" in card  # corpus_eval's column order
    assert "| dense | 40 | 0.8125 | 0.5500 |" in card
    assert "| BM25 | 40 | 0.6250 | 0.4000 |" in card


def test_card_takes_metrics_from_a_comparison_table():
    import pandas as pd

    table = pd.DataFrame(CORPUS_METRICS).T.astype(float)  # what comparison_table returns: one row per model
    assert "| dense | 40 | 0.8125 | 0.5500 |" in model_card(corpus_metrics=table)


def test_card_holds_the_config_the_base_model_and_the_data():
    card = model_card(config=CONFIG)
    assert "| learning_rate | `3e-05` |" in card and "| batch_size | `24` |" in card
    assert "| max_samples | `1234` |" in card
    assert "base model `bert-base-uncased`" in card
    assert "`data/nq`" in card and "`nq-train.json`" in card and "`nq-dev.json`" in card
    assert "at most 1234" in card


def test_card_from_a_retriever_describes_encoders_training_and_reports(retriever):
    card = model_card(retriever)
    # The config names the base model; the encoders tell the pooling, the retriever the similarity and lengths.
    assert "base model `bert-base-uncased`, mean pooling" in card
    assert "Similarity: `dot_product`" in card and "64 tokens for questions, 256 for passages" in card
    assert "8 optimizer steps over 1 epoch(s)" in card
    assert "Training loss: 2.0000 at step 1, 0.2500 at step 8" in card
    assert "| dev | 0.7500 | 0.6667 | 0.5000 | 0.5833 | 0.5000 | 2 | 3 |" in card  # the report's headline
    assert "candidates per question" in card and "not a corpus" in card  # the in-batch caveat
    assert "| dev | 0.6875 |" in card  # corpus metrics of the history's last dev evaluation
    assert "DensePassageRetriever.load(" in card and "export_sentence_transformers(retriever" in card


def test_the_cards_metadata_is_what_huggingface_hub_reads(retriever):
    """The Hub reads the YAML between the card's first two `---` lines: through huggingface_hub's own parser, the
    base model, the library, and the kept dev evaluation's corpus metric as the model index (no in-batch numbers)."""
    from huggingface_hub import ModelCard

    data = ModelCard(model_card(retriever)).data
    assert data.base_model == "bert-base-uncased" and data.library_name == "dpr_nb"
    assert data.pipeline_tag == "feature-extraction" and data.datasets is None  # a data folder names no Hub dataset
    [result] = data.eval_results
    assert (result.dataset_split, result.metric_type, result.metric_value) == ("dev", "top_20_accuracy", 0.6875)
    assert (result.task_type, result.dataset_name) == ("information-retrieval", "nq/nq-dev.json")
    named = ModelCard(model_card(retriever, datasets="sentence-transformers/natural-questions")).data
    assert named.datasets == ["sentence-transformers/natural-questions"]


def test_a_local_folder_or_the_offline_test_model_is_no_base_model_on_the_hub(tmp_path):
    from huggingface_hub import ModelCard

    config = TrainConfig(query_model=str(tmp_path), passage_model="dpr-nb/tiny-bert")
    assert ModelCard(model_card(config=config)).data.base_model is None
    two = TrainConfig(
        query_model="facebook/dpr-question_encoder-single-nq-base",
        passage_model="facebook/dpr-ctx_encoder-single-nq-base",
    )
    assert ModelCard(model_card(config=two)).data.base_model == [two.query_model, two.passage_model]


def test_card_states_the_learning_rate_the_steps_used_when_the_config_left_it_to_the_checkpoint():
    # Warm-up to 2e-5 over 2 steps, then linear decay: the shape get_linear_schedule_with_warmup gives.
    rates = [1e-5, 2e-5, 1.5e-5, 1e-5, 5e-6]
    history = History(steps=[{"step": s, "epoch": 0, "loss": 1.0, "learning_rate": r} for s, r in enumerate(rates, 1)])
    card = model_card(config=TrainConfig(learning_rate=None), history=history)
    assert "| learning_rate | `None` |" in card  # the setting as given ...
    assert "- Learning rate: 2e-05 at its peak (step 2), 5e-06 at the last step" in card  # ... and as used


def test_card_without_retriever_config_or_history_still_renders():
    card = model_card()
    assert card.startswith("---\nlibrary_name: dpr_nb\npipeline_tag: feature-extraction\n")
    assert "\n---\n\n# Dense Passage Retriever\n" in card
    assert "base model not recorded" in card and "No training history" in card
    assert "## Training configuration" not in card and "## Retrieval from a corpus" not in card


def test_card_of_a_reloaded_retriever_reads_the_reports_from_its_history():
    card = model_card(history=HISTORY)
    assert "| dev | 0.4200 | 0.9000 | 0.7500 |" in card  # loss, acc, f1 of the last dev evaluation


def test_card_of_a_reloaded_retriever_reports_the_weights_training_kept():
    """With selection_metric the kept weights are an earlier step's than the last evaluation's: the card of a
    reloaded model showed the last evaluation's figures for the kept weights."""
    kept = {"step": 4, "split": "dev", "loss": 0.31, "acc": 0.95, "f1": 0.85, "num_questions": 8, "questions": 8}
    later = {**kept, "step": 8, "loss": 0.42, "acc": 0.9, "f1": 0.75}
    history = History(steps=HISTORY.steps, evaluations=[kept, later], kept_evaluations={"dev": kept})
    card = model_card(history=History.from_dict(history.to_dict()))  # as history.json is read back
    assert "| dev | 0.3100 | 0.9500 | 0.8500 |" in card and "0.4200" not in card


def test_write_saves_figures_next_to_the_readme_and_links_them(tmp_path, retriever):
    figure = Figure()
    figure.add_subplot().plot([0, 1], [1, 0])
    readme = write_model_card(tmp_path / "model", retriever, figures={"top k": figure})
    assert readme == tmp_path / "model" / "README.md"
    assert (tmp_path / "model" / "top-k.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "![top k](top-k.png)" in readme.read_text(encoding="utf-8")
    assert 'DensePassageRetriever.load("' + str(tmp_path / "model") in readme.read_text(encoding="utf-8")


def test_write_draws_the_training_curve_when_no_figures_are_given(tmp_path, retriever):
    readme = write_model_card(tmp_path, retriever)
    assert (tmp_path / "training.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "![training](training.png)" in readme.read_text(encoding="utf-8")


def test_write_replaces_an_older_card_and_leaves_no_temporary_files(tmp_path, retriever):
    (tmp_path / "README.md").write_text("an older card\n", encoding="utf-8")
    write_model_card(tmp_path, retriever, corpus_metrics=CORPUS_METRICS, figures={})
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "an older card" not in text and "| dense | 40 | 0.8125 | 0.5500 |" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_a_failed_write_keeps_the_older_card_whole(tmp_path, retriever, monkeypatch):
    (tmp_path / "README.md").write_text("an older card\n", encoding="utf-8")

    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(dpr_nb.core.files.os, "replace", failing_replace)  # the card is written through core.files
    with pytest.raises(OSError, match="disk full"):
        write_model_card(tmp_path, retriever, figures={})
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == "an older card\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]
