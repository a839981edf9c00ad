import math

import pytest
import torch

from dpr_nb.model.loss import in_batch_negatives_loss, similarity_scores


def hand_loss(scores, positives):
    """-log softmax of each question's positives, by hand, averaged over questions."""
    total = 0.0
    for row, positive in zip(scores, positives):
        denominator = sum(math.exp(s) for s in row)
        total += -math.log(sum(math.exp(row[j]) for j in positive) / denominator)
    return total / len(scores)


def test_loss_matches_hand_computed_cross_entropy_with_hard_negatives():
    # 2 questions, each bringing 1 positive and 1 hard negative: passages [p0+, p0-, p1+, p1-].
    q = torch.tensor([[2.0, 0.5, 1.0], [0.0, 2.0, 0.5]])
    p = torch.tensor([[1.0, 0.5, 0.0], [0.5, 0.5, 0.5], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    mask = torch.tensor([[True, False, False, False], [False, False, True, False]])
    loss, scores = in_batch_negatives_loss(q, p, mask)
    expected_scores = [[sum(a * b for a, b in zip(qi, pj)) for pj in p.tolist()] for qi in q.tolist()]
    assert scores.flatten().tolist() == pytest.approx([s for row in expected_scores for s in row])
    assert loss.item() == pytest.approx(hand_loss(expected_scores, [[0], [2]]), rel=1e-6)
    # The same as torch's cross-entropy with the positive's index as the label.
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(scores, torch.tensor([0, 2])).item())


def test_several_positives_count_together():
    q = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[1.0, 0.0], [0.5, 0.0], [0.0, 1.0]])
    mask = torch.tensor([[True, True, False]])
    loss, scores = in_batch_negatives_loss(q, p, mask)
    assert loss.item() == pytest.approx(hand_loss(scores.tolist(), [[0, 1]]))


def test_cosine_divides_normalised_scores_by_temperature():
    q = torch.tensor([[3.0, 4.0]])
    p = torch.tensor([[6.0, 8.0], [0.0, 2.0]])
    scores = similarity_scores(q, p, "cosine", temperature=0.05)
    assert scores.tolist()[0] == pytest.approx([1.0 / 0.05, 0.8 / 0.05])


def test_gradient_pushes_positive_up_and_negatives_down():
    q = torch.tensor([[1.0, 1.0]], requires_grad=True)
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss, _ = in_batch_negatives_loss(q, p, torch.tensor([[True, False]]))
    loss.backward()
    # Moving q along -grad raises the positive's score relative to the negative's.
    assert (q.grad @ (p[0] - p[1])).item() < 0


def test_question_without_positive_is_an_error():
    with pytest.raises(ValueError, match="at least one positive"):
        in_batch_negatives_loss(torch.ones(1, 2), torch.ones(2, 2), torch.tensor([[False, False]]))
