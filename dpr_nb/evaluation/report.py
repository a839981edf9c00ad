"""The evaluation report of Haystack v1's DPR training, computed the same way, with what it really measures.

For each batch of the dev set, every question ranks all passages of that batch (each question's positives and
hard negatives). Ties are ranked against the positives: a gold passage scored the same as k negatives ranks after
them, and a negative tied with a question's best positive is its top-ranked passage. So a model that scores
everything alike gets no credit, and the numbers do not depend on how a sort happens to order equal scores.
Then:
- `loss` (from `evaluate`, or when `losses` are given): the mean loss per question. Each batch's loss is its
  questions' mean, so the batches are weighted by their number of questions: a short last batch counts for its few.
- `average_rank`: the 0-based rank of the question's gold passage among those candidates, averaged.
- `f1`: the F1 of the class "positive" over all (question, passage) pairs, where each question predicts its
  top-ranked passage as positive. With one positive per question this equals top-1 accuracy among the candidates.
- `acc`: the accuracy over all (question, passage) pairs. Most pairs are negatives and easy, so it stays high.
  With one positive and N candidates per question, acc = 1 - 2 * (1 - f1) / N.
- `report`: precision, recall, F1 and support of the classes `hard_negative` and `positive` over those pairs
  (scikit-learn's classification_report), as a pandas DataFrame.
- `question_ranks`: each question's rank, in the order of the questions: `average_rank` is their mean, and two models
  are compared question by question on them (dpr_nb.evaluation.paired). `report_numbers` leaves these two out.

These numbers depend on the batch: a question ranks `num_candidates` passages, not a corpus. They are only
comparable between runs with the same evaluation batch size and number of hard negatives; `num_candidates` is in
the report for that reason. Retrieval from a whole corpus is measured by the evaluation module of a later issue.
"""

from __future__ import annotations

import pandas as pd
import torch

from ..core.errors import SettingsError
from ..core.old_names import renamed_keywords
from ..model.loss import in_batch_negatives_loss


def ranking_report(
    scores: list[torch.Tensor], positive_masks: list[torch.Tensor], losses: list[float] | None = None
) -> dict:
    """The report from each batch's (questions, passages) scores and positive masks, and with `losses` (each
    batch's mean loss over its questions) the mean loss per question.

    >>> scores = [torch.tensor([[3.0, 1.0, 2.0], [0.0, 1.0, 2.0]])]
    >>> mask = [torch.tensor([[True, False, False], [False, True, False]])]
    >>> report = ranking_report(scores, mask)
    >>> report["average_rank"], report["f1"]     # ranks 0 and 1; one question of two right
    (0.5, 0.5)
    >>> ranking_report([torch.tensor([[1.0, 1.0]])], [torch.tensor([[True, False]])])["average_rank"]  # a tie
    1.0
    """
    if losses is not None and len(losses) != len(positive_masks):
        raise SettingsError(f"{len(losses)} losses for {len(positive_masks)} batches: give one loss per batch.")
    ranks, true_positive, predicted_positive, actual_positive, pairs, correct_pairs = [], 0, 0, 0, 0, 0
    questions = candidates = 0
    for batch_scores, mask in zip(scores, positive_masks):
        batch_scores, mask = batch_scores.float().cpu(), mask.cpu()
        # Ties count against the positives (see the module's docstring): the gold passage's rank is the number of
        # negatives scored at least as high as the question's best positive.
        best_positive = batch_scores.masked_fill(~mask, float("-inf")).max(dim=1, keepdim=True).values
        ranks += ((batch_scores >= best_positive) & ~mask).sum(dim=1).tolist()
        # The top passage, a negative where one ties for the top score: the first such by index, so it is the same
        # on every run (which negative it is does not change the counts below).
        tied_for_top = batch_scores == batch_scores.max(dim=1, keepdim=True).values
        negative_tied = tied_for_top & ~mask
        top = torch.where(
            negative_tied.any(dim=1), negative_tied.float().argmax(dim=1), tied_for_top.float().argmax(dim=1)
        )
        prediction = torch.zeros_like(mask)
        prediction[torch.arange(len(mask)), top] = True  # each question predicts its top passage
        true_positive += (prediction & mask).sum().item()
        predicted_positive += prediction.sum().item()
        actual_positive += mask.sum().item()
        pairs += mask.numel()
        correct_pairs += (prediction == mask).sum().item()
        questions += mask.shape[0]
        candidates += mask.numel()
    if not questions:
        raise SettingsError("No batches to evaluate: the evaluation data is empty.")
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
        "question_ranks": ranks,
    }
    if losses is not None:
        # Each batch's loss is a mean over its questions: weighted by them, a short last batch counts for its few.
        questions_per_batch = [mask.shape[0] for mask in positive_masks]
        summed = sum(batch_loss * count for batch_loss, count in zip(losses, questions_per_batch))
        report = {"loss": summed / sum(questions_per_batch), **report}
    return report


def report_numbers(report: dict) -> dict:
    """The report's numbers, without its per-class table and per-question ranks: what a history records."""
    return {k: v for k, v in report.items() if k not in ("report", "question_ranks")}


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
@renamed_keywords
def evaluate(model, batches, similarity_function: str, temperature: float, device="cpu") -> dict:
    """Run the bi-encoder over `batches` (dpr_nb.data.batches.Batch) and return the report with the mean loss per
    question (ranking_report weights each batch's loss by its questions, the rows of its positive mask)."""
    was_training = model.training
    model.eval()
    scores, masks, losses = [], [], []
    try:
        for batch in batches:
            batch = batch.to(device)
            with torch.no_grad():  # no graph: evaluation needs scores only, and a graph would hold activations
                query_embeddings, passage_embeddings = model(batch.query, batch.passage)
                loss, batch_scores = in_batch_negatives_loss(
                    query_embeddings.float(),
                    passage_embeddings.float(),
                    batch.positive_mask,
                    similarity_function,
                    temperature,
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
