import pytest
import torch

from dpr_nb.report import format_report, ranking_report


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
