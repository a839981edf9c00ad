"""The DPR loss: each question must score its own passage above every other passage in the batch."""

from __future__ import annotations

import torch

from ..core.errors import SettingsError
from ..core.old_names import renamed_keywords


@renamed_keywords
def similarity_scores(
    query_embeddings: torch.Tensor,
    passage_embeddings: torch.Tensor,
    similarity_function: str = "dot_product",
    temperature: float = 1.0,
) -> torch.Tensor:
    """Every question against every passage: (num_questions, dim) x (num_passages, dim) -> (questions, passages)."""
    if similarity_function == "cosine":
        query_embeddings = torch.nn.functional.normalize(query_embeddings, dim=-1)
        passage_embeddings = torch.nn.functional.normalize(passage_embeddings, dim=-1)
    elif similarity_function != "dot_product":
        raise SettingsError(f"similarity_function={similarity_function!r}; use 'dot_product' or 'cosine'")
    # Cosine scores live in [-1, 1]: dividing by a small temperature (0.05) makes the softmax sharp enough to learn.
    return query_embeddings @ passage_embeddings.T / temperature


@renamed_keywords
def in_batch_negatives_loss(
    query_embeddings: torch.Tensor,
    passage_embeddings: torch.Tensor,
    positive_mask: torch.Tensor,
    similarity_function: str = "dot_product",
    temperature: float = 1.0,
    passage_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Negative log-likelihood of the positive passages under a softmax over all passages of the batch.

    Args:
        query_embeddings: (num_questions, dim)
        passage_embeddings: (num_passages, dim): each question's positives and hard negatives, all questions
            concatenated. For question i, every passage that is not its positive is a negative: the hard negatives
            it brought and the other questions' passages (the in-batch negatives).
        positive_mask: (num_questions, num_passages) bool, True where the passage answers the question.
            With one positive per question this is the plain cross-entropy of DPR; with several, the probability
            of all of them together is maximised (any positive ranked first is a success).
        passage_mask: optional (num_passages,) bool, False for a passage to leave out of every question's softmax
            (a second copy of a passage that another process of a multi-GPU run also brought).

    Returns:
        (loss, scores): the mean loss over questions and the (num_questions, num_passages) score matrix.

    Example:
        >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> p = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])   # q0's positive, q1's positive, a hard negative
        >>> mask = torch.tensor([[True, False, False], [False, True, False]])
        >>> loss, scores = in_batch_negatives_loss(q, p, mask)
        >>> round(loss.item(), 4)
        0.6348
    """
    if not positive_mask.any(dim=1).all():
        raise ValueError("Every question needs at least one positive passage in the batch.")
    scores = similarity_scores(query_embeddings, passage_embeddings, similarity_function, temperature)  # (Q, P)
    if passage_mask is not None:
        scores = scores.masked_fill(~passage_mask.unsqueeze(0), float("-inf"))  # (Q, P): left-out columns vanish
    log_all = torch.logsumexp(scores, dim=1)  # (Q,): log of the softmax denominator
    log_positive = torch.logsumexp(scores.masked_fill(~positive_mask, float("-inf")), dim=1)  # (Q,)
    return (log_all - log_positive).mean(), scores
