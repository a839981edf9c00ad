"""BestWeights on its own: which evaluation's weights are kept, and when early stopping says stop."""

import pytest
import torch

from dpr_nb.training.best_weights import BestWeights, cpu_copy


def observe_all(best_weights: BestWeights, metric: str, values: list[float]) -> tuple[list[bool], torch.nn.Module]:
    """Each value as the evaluation of step 1, 2, ..., with the model's weight set to the step so kept weights show
    which step they are of; returns what observe said after each, and the model."""
    model = torch.nn.Linear(1, 1, bias=False)
    said = []
    for step, value in enumerate(values, start=1):
        with torch.no_grad():
            model.weight.fill_(step)
        said.append(best_weights.observe(step, {"step": step, metric: value}, model))
    return said, model


@pytest.mark.parametrize(
    "metric, values",
    [
        ("loss", [1.0, 0.8, 0.9, 0.8, 0.7]),  # lower is better; an equal value is no gain
        ("mrr_at_10", [0.1, 0.3, 0.2, 0.3, 0.4]),  # higher is better
    ],
)
def test_patience_two_keeps_the_best_step_and_stops_after_two_evaluations_without_a_gain(metric, values):
    best_weights = BestWeights(metric, patience=2)
    said, model = observe_all(best_weights, metric, values)
    assert said == [False, False, False, True, False]  # step 4 is the second in a row without a gain
    assert best_weights.best == {"step": 5, "metric": metric, "value": values[4]}  # had training gone on
    kept = BestWeights(metric, patience=2)
    said, model = observe_all(kept, metric, values[:4])
    assert said[-1] and kept.best["step"] == 2 and kept.evaluations_without_gain == 2
    assert kept.restore(model) == 2 and model.weight.item() == 2.0  # the weights of step 2, not the last step's


def test_without_patience_it_never_stops_and_without_a_metric_it_keeps_the_last_weights():
    said, _ = observe_all(BestWeights("loss", patience=0), "loss", [1.0, 2.0, 3.0, 4.0])
    assert not any(said)
    nothing_chosen = BestWeights(None)
    said, model = observe_all(nothing_chosen, "loss", [1.0, 2.0])
    assert not any(said) and nothing_chosen.best == {} and nothing_chosen.weights is None
    assert nothing_chosen.restore(model) is None and model.weight.item() == 2.0


def test_its_state_continues_where_a_checkpoint_left_it():
    first = BestWeights("loss", patience=2)
    observe_all(first, "loss", [1.0, 0.5, 0.6])
    resumed = BestWeights("loss", patience=2)
    resumed.load_state_dict(first.state_dict(), first.best)
    model = torch.nn.Linear(1, 1, bias=False)
    assert resumed.observe(4, {"loss": 0.7}, model)  # the second without a gain, counting the one before the resume
    assert resumed.restore(model) == 2 and model.weight.item() == 2.0


def test_a_weight_two_names_share_is_copied_once_and_stays_shared():
    weight = torch.randn(3, 3)
    copy = cpu_copy({"query.weight": weight, "passage.weight": weight})
    assert copy["query.weight"] is copy["passage.weight"] and copy["query.weight"] is not weight
    assert torch.equal(copy["query.weight"], weight)
