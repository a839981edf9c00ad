import pytest
import torch

from dpr_nb.evaluation.report import format_report, ranking_report


def test_toy_batch_ranked_by_hand():
    # 3 questions x 6 passages (each question brought its positive and one hard negative).
    scores = torch.tensor(
        [
            [9.0, 1.0, 2.0, 3.0, 4.0, 5.0],  # positive 0 ranked first -> rank 0, correct
            [1.0, 2.0, 3.0, 9.0, 4.0, 5.0],  # positive 2: order 3,5,4,2 -> rank 3, predicts passage 3
            [1.0, 2.0, 3.0, 4.0, 6.0, 5.0],  # positive 4 ranked first -> rank 0, correct
        ]
    )
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[0, 0] = mask[1, 2] = mask[2, 4] = True
    report = ranking_report([scores], [mask], losses=[1.5])
    assert report["average_rank"] == pytest.approx(1.0)  # (0 + 3 + 0) / 3
    # Pairs: 18. Predicted positives: (0,0) right, (1,3) wrong, (2,4) right; missed: (1,2). Wrong pairs: 2.
    assert report["acc"] == pytest.approx(16 / 18)
    assert report["f1"] == pytest.approx(2 / 3)
    assert report["acc_and_f1"] == pytest.approx((16 / 18 + 2 / 3) / 2)
    assert report["loss"] == 1.5
    assert report["num_candidates"] == 6
    table = report["report"]
    assert table.loc["positive", "support"] == 3 and table.loc["hard_negative", "support"] == 15
    assert table.loc["positive", "precision"] == pytest.approx(2 / 3)
    assert table.loc["hard_negative", "precision"] == pytest.approx(14 / 15)  # 15 predicted negative, 1 is positive
    assert table.loc["hard_negative", "recall"] == pytest.approx(14 / 15)
    assert table.loc["macro avg", "f1-score"] == pytest.approx((2 / 3 + 14 / 15) / 2)
    assert table.loc["weighted avg", "recall"] == pytest.approx(16 / 18)  # weighted recall is accuracy
    assert "average_rank=1.0000" in format_report(report)


@pytest.mark.parametrize("num_candidates", [2, 5, 17])
def test_acc_is_determined_by_f1_and_the_number_of_candidates(num_candidates):
    generator = torch.Generator().manual_seed(num_candidates)
    scores = [torch.randn(8, num_candidates, generator=generator) for _ in range(3)]
    masks = []
    for _ in scores:
        mask = torch.zeros(8, num_candidates, dtype=torch.bool)
        mask[torch.arange(8), torch.randint(num_candidates, (8,), generator=generator)] = True
        masks.append(mask)
    report = ranking_report(scores, masks)
    assert report["acc"] == pytest.approx(1 - 2 * (1 - report["f1"]) / num_candidates)


def test_average_rank_is_zero_based_and_uses_best_positive():
    scores = torch.tensor([[1.0, 3.0, 2.0]])
    mask = torch.tensor([[True, False, True]])  # positives at ranks 2 and 1: best is 1
    assert ranking_report([scores], [mask])["average_rank"] == 1.0


def test_empty_evaluation_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        ranking_report([], [])


def test_a_positive_tied_with_a_negative_ranks_after_it_and_is_not_predicted():
    # The positive (index 0) ties with negative 1 for the top score: pessimistically the negative comes first, so the
    # positive's rank is 1 and the question predicts the negative. Pairs: (0) missed, (1) wrongly predicted, (2) right.
    mask = torch.tensor([[True, False, False]])
    for scores in (torch.tensor([[1.0, 1.0, 0.0]]), torch.tensor([[1.0, 0.0, 1.0]])):  # the tie on either side
        report = ranking_report([scores], [mask])
        assert report["average_rank"] == 1.0
        assert report["f1"] == 0.0
        assert report["acc"] == pytest.approx(1 / 3)
        assert report["report"].loc["positive", "recall"] == 0.0


def test_all_equal_scores_rank_every_positive_last_among_its_ties():
    # 2 questions x 4 passages, every score equal: each question's positive ranks after its 3 negatives (rank 3)
    # and each predicts a negative. Pairs: 8; per question 2 wrong (the missed positive, the predicted negative).
    scores = torch.zeros(2, 4)
    mask = torch.zeros(2, 4, dtype=torch.bool)
    mask[0, 0] = mask[1, 3] = True
    report = ranking_report([scores], [mask])
    assert report["average_rank"] == 3.0
    assert report["f1"] == 0.0
    assert report["acc"] == pytest.approx(4 / 8)
    # The best of two positives counts, and a negative tied with it still ranks first: scores 2, 2, 2 with
    # positives at 0 and 2 -> the positive ranks after negative 1 (rank 1).
    two_positives = ranking_report([torch.tensor([[2.0, 2.0, 2.0]])], [torch.tensor([[True, False, True]])])
    assert two_positives["average_rank"] == 1.0 and two_positives["f1"] == 0.0


def test_loss_is_the_mean_per_question_not_per_batch():
    # A batch of 3 questions with mean loss 1.0 and a last batch of 1 question with loss 3.0: per question
    # (3 * 1.0 + 1 * 3.0) / 4 = 1.5; the mean of the two batches' means would be 2.0.
    scores = [torch.eye(3), torch.eye(1)]
    masks = [torch.eye(3, dtype=torch.bool), torch.eye(1, dtype=torch.bool)]
    assert ranking_report(scores, masks, losses=[1.0, 3.0])["loss"] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="one loss per batch"):
        ranking_report(scores, masks, losses=[1.0])
