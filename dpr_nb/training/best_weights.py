"""Best weights and early stopping: which evaluation's weights a run keeps, and when it stops for want of a gain.

With selection_metric, each dev evaluation is compared with the best so far (lower is better for the loss, higher
for accuracies and corpus metrics). A better one becomes the best and its weights are copied to the CPU; one that is
not better counts towards early_stopping_patience, and that many in a row end training. After training the model
gets the best evaluation's weights back: what is saved is what the metric chose, not whatever the last step left.

    best_weights = BestWeights("mrr_at_10", patience=3)
    stop = best_weights.observe(step, evaluation, model)  # after each dev evaluation
    kept_step = best_weights.restore(model)  # after training: the step whose weights the model now holds

Its state (the copy of the weights, the evaluations without a gain) goes into every checkpoint, so a resumed run
keeps the same best and stops at the same step; the best evaluation's record is the history's `best`.
"""

from __future__ import annotations

import torch

from ..core.config import metric_mode
from .checkpoints import storage_identity


class BestWeights:
    """The best evaluation so far by `selection_metric` (none: the last weights are kept, and training never stops
    early) and a CPU copy of its weights; `patience` evaluations in a row without a gain say stop (0 or None: never).
    """

    def __init__(self, selection_metric: str | None, patience: int | None = None):
        self.selection_metric, self.patience = selection_metric, patience
        self.best: dict = {}  # {"step", "metric", "value"} of the best evaluation so far: the history's `best`
        self.weights: dict[str, torch.Tensor] | None = None  # a CPU copy of its weights
        self.evaluations_without_gain = 0

    def observe(self, step: int, evaluation: dict, model: torch.nn.Module) -> bool:
        """Compare `evaluation` (a record of the model's weights at `step`) with the best so far, copying the weights
        when it is better; True when early stopping says stop."""
        metric = self.selection_metric
        if not metric:
            return False
        value, best = evaluation[metric], self.best.get("value")
        # Only a strict gain counts: an equal value keeps the earlier, shorter-trained weights.
        if best is None or (value < best if metric_mode(metric) == "min" else value > best):
            self.best = {"step": step, "metric": metric, "value": value}
            self.weights = cpu_copy(model.state_dict())
            self.evaluations_without_gain = 0
        else:
            self.evaluations_without_gain += 1
        return bool(self.patience) and self.evaluations_without_gain >= self.patience

    def restore(self, model: torch.nn.Module) -> int | None:
        """Give `model` the best weights if any were kept; return their step (None when none were chosen)."""
        if self.weights is not None:
            model.load_state_dict(self.weights)
        return self.best.get("step")

    def state_dict(self) -> dict:
        """What a checkpoint keeps of it, under the names checkpoints have always used (the best's record is in the
        checkpoint's history.json)."""
        return {"best_weights": self.weights, "evaluations_without_gain": self.evaluations_without_gain}

    def load_state_dict(self, state: dict, best: dict) -> None:
        """Continue from a checkpoint's `state` and its history's `best` record."""
        self.weights = state.get("best_weights")
        self.evaluations_without_gain = state.get("evaluations_without_gain", 0)
        self.best = dict(best)


def cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A CPU copy of a state dict; a weight two names share (one encoder in both roles) is copied once and stays
    shared, so a shared model's best weights take its size, not twice."""
    copies: dict[tuple, torch.Tensor] = {}
    result = {}
    for name, tensor in state.items():
        identity = storage_identity(tensor)
        if identity not in copies:
            copies[identity] = tensor.detach().to("cpu", copy=True)
        result[name] = copies[identity]
    return result
