"""A run's history: every optimizer step's loss and every evaluation, as JSON beside each checkpoint and saved model.

The trainer appends to it as it goes; checkpoints save it and resume from it; the run store, the model card, the
plots and the dashboards read it. It holds plain values only, so it is the same in memory, in history.json and in a
notebook that only loads the JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class History:
    """Per optimizer step: loss and learning rate. Per evaluation: the report's numbers."""

    # {"step", "epoch", "loss", "learning_rate", and the negatives per question: dpr_nb.training.trainer.NEGATIVES}
    steps: list[dict] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)  # {"step", "split", "loss", "acc", "f1", ...}
    best: dict = field(default_factory=dict)  # with selection_metric: {"step", "metric", "value"} of the kept weights
    stopped_early_at: int | None = None  # the step early stopping ended training, if it did
    # The last step trained when a stop was asked for (Trainer.request_stop: the dashboard's Stop, an interrupt);
    # a resume continues the run, and clears it.
    stopped_at: int | None = None
    # Per split, the latest evaluation, which after training is of the weights training kept (the best, with
    # selection_metric), with its number of questions: what the run store and the model card report. `evaluations`
    # keeps every one as it happened, for the curves.
    kept_evaluations: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> History:
        return cls(
            steps=list(values.get("steps", [])),
            evaluations=list(values.get("evaluations", [])),
            best=dict(values.get("best") or {}),
            stopped_early_at=values.get("stopped_early_at"),
            stopped_at=values.get("stopped_at"),
            kept_evaluations=dict(values.get("kept_evaluations") or {}),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
