"""The evaluation report of Haystack v1's DPR training, computed the same way, with what it really measures.

For each batch of the dev set, every question ranks all passages of that batch (each question's positives and
hard negatives). Then:
- `average_rank`: the 0-based rank of the question's gold passage among those candidates, averaged.
- `f1`: the F1 of the class "positive" over all (question, passage) pairs, where each question predicts its
  top-ranked passage as positive. With one positive per question this equals top-1 accuracy among the candidates.
- `acc`: the accuracy over all (question, passage) pairs. Most pairs are negatives and easy, so it stays high.
  With one positive and N candidates per question, acc = 1 - 2 * (1 - f1) / N.
- `report`: precision, recall, F1 and support of the classes `hard_negative` and `positive` over those pairs
  (scikit-learn's classification_report), as a pandas DataFrame.

These numbers depend on the batch: a question ranks `num_candidates` passages, not a corpus. They are only
comparable between runs with the same evaluation batch size and number of hard negatives; `num_candidates` is in
the report for that reason. Retrieval from a whole corpus is measured by the evaluation module of a later issue.
"""

from __future__ import annotations

import pandas as pd
import torch

from .loss import in_batch_negatives_loss


def ranking_report(
    scores: list[torch.Tensor], positive_masks: list[torch.Tensor], losses: list[float] | None = None
) -> dict:
    """The report from each batch's (questions, passages) scores and positive masks.

    >>> scores = [torch.tensor([[3.0, 1.0, 2.0], [0.0, 1.0, 2.0]])]
    >>> mask = [torch.tensor([[True, False, False], [False, True, False]])]
    >>> report = ranking_report(scores, mask)
    >>> report["average_rank"], report["f1"]     # ranks 0 and 1; one question of two right
    (0.5, 0.5)
    """
    ranks, true_positive, predicted_positive, actual_positive, pairs, correct_pairs = [], 0, 0, 0, 0, 0
    questions = candidates = 0
    for batch_scores, mask in zip(scores, positive_masks):
        batch_scores, mask = batch_scores.float().cpu(), mask.cpu()
        order = batch_scores.argsort(dim=1, descending=True)  # (Q, P): passage indices, best first
        ranked_is_positive = mask.gather(1, order)  # (Q, P): is the passage at each rank a positive?
        ranks += ranked_is_positive.float().argmax(dim=1).tolist()  # first rank holding a positive
        prediction = torch.zeros_like(mask)
        prediction[torch.arange(len(mask)), order[:, 0]] = True  # each question predicts its top passage
        true_positive += (prediction & mask).sum().item()
        predicted_positive += prediction.sum().item()
        actual_positive += mask.sum().item()
        pairs += mask.numel()
        correct_pairs += (prediction == mask).sum().item()
        questions += mask.shape[0]
        candidates += mask.numel()
    if not questions:
        raise ValueError("No batches to evaluate: the evaluation data is empty.")
    table = _classification_table(true_positive, predicted_positive, actual_positive, pairs)
    f1 = float(table.loc["positive", "f1-score"])
    acc = correct_pairs / pairs
    report = {
        "acc": acc,
        "f1": f1,
        "acc_and_f1": (acc + f1) / 2,
        "average_rank": sum(ranks) / len(ranks),
        "num_questions": questions,
        "num_candidates": candidates / questions,  # passages each question ranked, on average
        "report": table,
    }
    if losses is not None:
        report = {"loss": sum(losses) / len(losses), **report}
    return report


def _classification_table(
    true_positive: int, predicted_positive: int, actual_positive: int, pairs: int
) -> pd.DataFrame:
    """scikit-learn's classification_report for the two classes, from the positive class's counts."""
    counts = {
        "positive": (true_positive, predicted_positive, actual_positive),
        # For the negative class, a pair predicted negative and truly negative is its true positive.
        "hard_negative": (
            pairs - predicted_positive - actual_positive + true_positive,
            pairs - predicted_positive,
            pairs - actual_positive,
        ),
    }
    rows = {}
    for label in ("hard_negative", "positive"):
        tp, predicted, actual = counts[label]
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows[label] = {"precision": precision, "recall": recall, "f1-score": f1, "support": actual}
    table = pd.DataFrame.from_dict(rows, orient="index")
    metrics = ["precision", "recall", "f1-score"]
    macro = table[metrics].mean()
    weighted = (table[metrics].mul(table["support"], axis=0)).sum() / pairs
    table.loc["macro avg"] = [*macro, pairs]
    table.loc["weighted avg"] = [*weighted, pairs]
    table["support"] = table["support"].astype(int)
    return table


@torch.no_grad()
def evaluate(model, batches, similarity: str, temperature: float, device="cpu") -> dict:
    """Run the bi-encoder over `batches` (dpr_nb.data.Batch) and return the report with the mean loss."""
    was_training = model.training
    model.eval()
    scores, masks, losses = [], [], []
    try:
        for batch in batches:
            batch = batch.to(device)
            with torch.no_grad():  # no graph: evaluation needs scores only, and a graph would hold activations
                query_embeddings, passage_embeddings = model(batch.query, batch.passage)
                loss, batch_scores = in_batch_negatives_loss(
                    query_embeddings.float(), passage_embeddings.float(), batch.positive_mask, similarity, temperature
                )
            scores.append(batch_scores)
            masks.append(batch.positive_mask)
            losses.append(loss.item())
    finally:
        model.train(was_training)
    return ranking_report(scores, masks, losses)


def format_report(report: dict, title: str = "") -> str:
    """The report as text for a terminal: the headline numbers, then the per-class table."""
    lines = [title] if title else []
    headline = ["loss", "acc", "f1", "acc_and_f1", "average_rank"]
    lines.append(
        "  ".join(f"{k}={report[k]:.4f}" for k in headline if k in report)
        + f"  ({report['num_questions']} questions, each ranking {report['num_candidates']:.1f} passages)"
    )
    lines.append(report["report"].to_string(float_format=lambda v: f"{v:.4f}"))
    return "\n".join(lines)
