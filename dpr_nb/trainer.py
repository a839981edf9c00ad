"""A generic training loop for the bi-encoder that returns a history and tells callbacks what happens.

Plots, live dashboards and the command line subscribe to events instead of living in the loop:

    trainer = Trainer(model, config, train_examples, dev_examples)
    trainer.add_callback("on_step_end", lambda trainer, record: print(record["step"], record["loss"]))
    history = trainer.train()

Events: "on_train_start" (trainer), "on_step_end" (trainer, step record), "on_evaluate" (trainer, evaluation
record), "on_train_end" (trainer, history).
"""

from __future__ import annotations

import json
import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from .config import TrainConfig
from .data import BatchSampler, DPRExample, collate
from .encoders import BiEncoder
from .loss import in_batch_negatives_loss
from .report import evaluate

EVENTS = ("on_train_start", "on_step_end", "on_evaluate", "on_train_end")


@dataclass
class History:
    """Per optimizer step: loss and learning rate. Per evaluation: the report's numbers."""

    steps: list[dict] = field(default_factory=list)  # {"step", "epoch", "loss", "learning_rate"}
    evaluations: list[dict] = field(default_factory=list)  # {"step", "split", "loss", "acc", "f1", ...}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> History:
        return cls(steps=list(values.get("steps", [])), evaluations=list(values.get("evaluations", [])))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for, but torch sees no GPU. Use device='cpu' or 'auto'.")
    return torch.device(device)


def resolve_similarity(config: TrainConfig, model: BiEncoder) -> tuple[str, float]:
    similarity = config.similarity or model.default_similarity
    temperature = config.temperature or (0.05 if similarity == "cosine" else 1.0)
    return similarity, temperature


class Trainer:
    def __init__(self, model: BiEncoder, config: TrainConfig, train_examples: Sequence[DPRExample],
                 dev_examples: Sequence[DPRExample] | None = None, progress_bar: bool = True):
        self.model, self.config, self.progress_bar = model, config, progress_bar
        self.train_examples, self.dev_examples = train_examples, dev_examples
        self.device = resolve_device(config.device)
        self.similarity, self.temperature = resolve_similarity(config, model)
        self.callbacks: dict[str, list[Callable]] = defaultdict(list)
        self.history = History()
        self.reports: dict[str, dict] = {}
        self.step = 0

    def add_callback(self, event: str, callback: Callable) -> None:
        if event not in EVENTS:
            raise ValueError(f"Unknown event {event!r}; events are {EVENTS}")
        self.callbacks[event].append(callback)

    def _emit(self, event: str, *args) -> None:
        for callback in self.callbacks[event]:
            callback(self, *args)

    # -------------------------------------------------------------------------------------------------------------
    def make_batch(self, items):
        c = self.config
        return collate(items, self.model.query_encoder.tokenizer, self.model.passage_encoder.tokenizer,
                       c.max_seq_len_query, c.max_seq_len_passage, c.embed_title)

    def evaluation_batches(self, examples: Sequence[DPRExample]) -> list:
        """Fixed batches (no shuffling, the first hard negatives) so every evaluation ranks the same candidates."""
        c = self.config
        sampler = BatchSampler(examples, c.eval_batch_size or c.batch_size, c.num_positives, c.num_hard_negatives,
                               shuffle=False)
        return [self.make_batch(items) for items in sampler]

    def evaluate(self, examples: Sequence[DPRExample], split: str = "dev") -> dict:
        """The report on `examples`, recorded in the history and sent to the "on_evaluate" callbacks."""
        return self._evaluate_batches(self.evaluation_batches(examples), split)

    def _optimizer(self) -> torch.optim.Optimizer:
        # As BERT: no weight decay on biases and LayerNorm weights (1-dimensional parameters).
        decay = [p for p in self.model.parameters() if p.requires_grad and p.dim() > 1]
        no_decay = [p for p in self.model.parameters() if p.requires_grad and p.dim() <= 1]
        groups = [{"params": decay, "weight_decay": self.config.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=self.config.learning_rate, eps=self.config.epsilon)

    def _precision(self):
        """(autocast context factory, gradient scaler): bf16 where the GPU has it, fp16 with loss scaling on a T4."""
        if not self.config.use_amp:
            return nullcontext, None
        if self.device.type != "cuda":
            warnings.warn("use_amp=True has no effect on the CPU: training in float32.", stacklevel=3)
            return nullcontext, None
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
        return (lambda: torch.autocast("cuda", dtype=dtype)), scaler

    def train(self) -> History:
        c = self.config
        torch.manual_seed(c.seed)  # dropout masks, for a repeatable run
        self.model.to(self.device).train()
        sampler = BatchSampler(self.train_examples, c.batch_size, c.num_positives, c.num_hard_negatives,
                               shuffle=True, seed=c.seed)
        micro_batches = len(sampler)
        steps_per_epoch = math.ceil(micro_batches / c.grad_acc_steps)
        total_steps = steps_per_epoch * c.n_epochs
        optimizer = self._optimizer()
        scheduler = get_linear_schedule_with_warmup(optimizer, c.num_warmup_steps, total_steps)
        autocast, scaler = self._precision()
        dev_batches = self.evaluation_batches(self.dev_examples) if self.dev_examples else None
        self._emit("on_train_start")

        progress = tqdm(total=total_steps, desc="training", unit="step", disable=not self.progress_bar)
        for epoch in range(c.n_epochs):
            accumulated_loss = 0.0
            for index, items in enumerate(sampler):
                # Gradient accumulation: sum the gradients of several micro-batches, then take one step. It gives
                # the step of a larger batch for the loss, but each question still sees only its micro-batch's
                # passages as negatives.
                group_start = index - index % c.grad_acc_steps
                group_size = min(c.grad_acc_steps, micro_batches - group_start)
                batch = self.make_batch(items).to(self.device)
                with autocast():
                    query_embeddings, passage_embeddings = self.model(batch.query, batch.passage)
                    loss, _ = in_batch_negatives_loss(query_embeddings.float(), passage_embeddings.float(),
                                                      batch.positive_mask, self.similarity, self.temperature)
                scaled = loss / group_size
                (scaler.scale(scaled) if scaler else scaled).backward()
                accumulated_loss += scaled.item()
                if index - group_start + 1 < group_size:
                    continue
                if scaler:
                    scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
                if scaler:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                learning_rate = scheduler.get_last_lr()[0]
                scheduler.step()
                self.step += 1
                record = {"step": self.step, "epoch": epoch, "loss": accumulated_loss, "learning_rate": learning_rate}
                self.history.steps.append(record)
                self._emit("on_step_end", record)
                progress.update(1)
                progress.set_postfix(loss=f"{accumulated_loss:.4f}")
                accumulated_loss = 0.0
                if dev_batches and c.evaluate_every and self.step % c.evaluate_every == 0 \
                        and self.step < total_steps:
                    self._evaluate_batches(dev_batches, "dev")
        progress.close()
        if dev_batches:
            self._evaluate_batches(dev_batches, "dev")
        self._emit("on_train_end", self.history)
        return self.history

    def _evaluate_batches(self, batches, split: str) -> dict:
        report = evaluate(self.model, batches, self.similarity, self.temperature, self.device)
        self.reports[split] = report  # the latest full report (with its table) per split
        record = {"step": self.step, "split": split, **{k: v for k, v in report.items() if k != "report"}}
        self.history.evaluations.append(record)
        self._emit("on_evaluate", record)
        return report
