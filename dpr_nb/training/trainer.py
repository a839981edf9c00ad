"""A generic training loop for the bi-encoder that returns a history and tells callbacks what happens.

Plots, live dashboards and the command line subscribe to events instead of living in the loop:

    trainer = Trainer(model, config, train_examples, dev_examples)
    trainer.add_callback("on_step_end", lambda trainer, record: print(record["step"], record["loss"]))
    history = trainer.train()

Events: "on_train_start" (trainer), "on_step_end" (trainer, step record), "on_evaluate" (trainer, evaluation
record), "on_checkpoint" (trainer, folder), "on_train_end" (trainer, history).

`trainer.request_stop()` (from a callback, a widget's click handler or another thread) ends training after the step
under way as it would end at its planned last step: dev evaluated, a checkpoint saved (with checkpoint_dir), the
weights kept returned; `history.stopped_at` says where, and a resume continues from there. With
`trainer.stop_on_interrupt` (the dashboard sets it), the notebook's interrupt (a first Ctrl-C) asks the same; a
second one interrupts at once.

This module is the step (`forward_backward`, then the optimizer step) and the loop (`Trainer.train`), to be read top
to bottom. The loop calls two parts that live in modules of their own: after each dev evaluation, the best weights
and early stopping (`BestWeights`, dpr_nb.training.best_weights); every checkpoint_every steps and at the end, the
checkpoints, which are also what a resume starts from (`Checkpointing`, dpr_nb.training.checkpoints). What it
returns is the run's `History` (dpr_nb.training.history).

What one step does, and why:
- The batch's questions and passages are encoded, the loss is computed over the whole batch's embeddings, and
  backward. With grad_cache_chunk_size, the encoding is a chunk at a time (dpr_nb.model.grad_cache): the gradient of the
  whole batch, to rounding, in the memory of one chunk.
- Under torchrun the embeddings of all processes are gathered before the loss (dpr_nb.training.distributed).
- grad_acc_steps batches add their gradients before one optimizer step: the step of a larger batch, but each
  question still competes only with its own batch's passages. Only caching (or more GPUs) adds negatives.

Every step's record says what each question competed against (`count_negatives`, averaged over the step's
questions): "negatives" in all, of which "hard_negatives" (its own extra passages), "in_batch_negatives" (the
other questions' passages) and "negatives_from_other_processes" (torchrun). Accumulation leaves them as they are
for one batch; caching adds none beyond its batch, but lets that batch be larger than memory would allow.
"""

from __future__ import annotations

import math
import signal
import threading
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import contextmanager, nullcontext

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from ..core.config import TrainConfig, auto_device, metric_k
from ..core.errors import SettingsError, TrainingDivergedError, TrainingMemoryError
from ..data.batches import Batch, config_batch, evaluation_batches
from ..data.dpr_file import BatchSampler, DPRExample, Passage
from ..evaluation.corpus_eval import DEFAULT_KS, evaluate_corpus, load_corpus
from ..evaluation.report import evaluate, report_numbers
from ..model.embedding import TextEmbedder
from ..model.encoders import BiEncoder
from ..model.grad_cache import GradCache
from ..model.loss import in_batch_negatives_loss
from .best_weights import BestWeights

# DATA_SETTINGS, RESUMABLE_CHANGES and checkpoints_to_replace live in checkpoints.py, History in history.py; all four
# are still importable from here, where they were before the trainer's parts had modules of their own.
from .checkpoints import DATA_SETTINGS as DATA_SETTINGS
from .checkpoints import RESUMABLE_CHANGES as RESUMABLE_CHANGES
from .checkpoints import Checkpointing, checkpoints_to_replace
from .distributed import (
    all_reduce_gradients,
    broadcast_parameters,
    current_group,
    gather_objects,
    gather_with_grad,
    process_device,
)
from .history import History

EVENTS = ("on_train_start", "on_step_end", "on_evaluate", "on_checkpoint", "on_train_end")
NEGATIVES = ("negatives", "in_batch_negatives", "hard_negatives", "negatives_from_other_processes")


def count_negatives(
    items: Sequence[tuple[DPRExample, list[Passage], list[Passage]]], gathered_keys: Sequence[str] | None = None
) -> dict[str, float]:
    """How many passages each question of a batch is scored against as wrong, averaged over its questions.

    `items` are this process's (example, positives, negatives) as the sampler made them; `gathered_keys` the
    Passage.text_key of every passage gathered from all processes (torchrun), None in one process. Counted as collate
    builds the batch: each passage once, and no passage that answers the question (any of its positives) is a
    negative. A question's own extra passages (its hard negatives, topped up from random ones when it has too few)
    are "hard"; the other questions' passages "in-batch"; passages only other processes brought "from other
    processes". Batch 4 with 1 hard negative, no passage shared: 8 passages, so 7 negatives = 1 hard + 6 in-batch.

    >>> from dpr_nb.data.dpr_file import DPRExample, Passage
    >>> p = lambda name: Passage(title=name, text=name)
    >>> items = [(DPRExample(f"q{i}", [], [p(f"gold{i}")]), [p(f"gold{i}")], [p(f"hard{i}")]) for i in range(4)]
    >>> count_negatives(items)
    {'negatives': 7.0, 'in_batch_negatives': 6.0, 'hard_negatives': 1.0, 'negatives_from_other_processes': 0.0}
    """
    local = {p.text_key for _, positives, negatives in items for p in (*positives, *negatives)}
    everything = set(gathered_keys) if gathered_keys is not None else local
    totals: Counter = Counter()
    for example, _, negatives in items:
        answers = {p.text_key for p in example.positives}  # positive wherever it sits, as collate marks it
        hard = {p.text_key for p in negatives} - answers
        totals["hard_negatives"] += len(hard)
        totals["in_batch_negatives"] += len(local - answers - hard)
        totals["negatives_from_other_processes"] += len(everything - local - answers)
    totals["negatives"] = sum(totals.values())
    return {name: totals[name] / max(1, len(items)) for name in NEGATIVES}


def resolve_device(device: str = "auto") -> torch.device:
    """'auto': an NVIDIA GPU (CUDA), else an Apple Silicon GPU (MPS), else the CPU."""
    if device == "auto":
        return torch.device(auto_device())
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SettingsError(f"device={device!r} was asked for, but torch sees no GPU. Use device='cpu' or 'auto'.")
    return torch.device(device)


def resolve_learning_rate(config: TrainConfig, model: BiEncoder) -> float:
    """The config's learning rate, else the recipe the checkpoint was trained with: a checkpoint that compares by
    cosine (sentence-transformers') 2e-5, as its training examples use; DPR and BERT 1e-5, as DPR and Haystack."""
    if config.learning_rate is not None:
        return config.learning_rate
    return 2e-5 if model.similarity_function == "cosine" else 1e-5


def resolve_similarity(config: TrainConfig, model: BiEncoder) -> tuple[str, float]:
    """The similarity_function and temperature a run uses: the config's, else what the checkpoint was trained with."""
    similarity_function = config.similarity_function or model.similarity_function
    temperature = config.temperature or (0.05 if similarity_function == "cosine" else 1.0)
    return similarity_function, temperature


class Trainer:
    def __init__(
        self,
        model: BiEncoder,
        config: TrainConfig,
        train_examples: Sequence[DPRExample],
        dev_examples: Sequence[DPRExample] | None = None,
        progress_bar: bool = True,
    ):
        self.model, self.config, self.progress_bar = model, config, progress_bar
        model.check_lengths(config.max_seq_len_query, config.max_seq_len_passage)
        if config.share_encoders:
            model.share_encoders()
        elif config.share_encoders is False:  # on a model saved shared: train its two roles apart from here on
            model.separate_encoders()
        if config.dropout is not None:
            for encoder in {id(e): e for e in (model.query_encoder, model.passage_encoder)}.values():
                encoder.set_dropout(config.dropout)
        self.train_examples, self.dev_examples = train_examples, dev_examples
        self.group = current_group()
        self.device = process_device(resolve_device(config.device))
        self.similarity_function, self.temperature = resolve_similarity(config, model)
        self.learning_rate = resolve_learning_rate(config, model)  # the peak; the schedule scales it per step
        self.autocast_dtype, self.scaler = self._precision()
        self.callbacks: dict[str, list[Callable]] = defaultdict(list)
        self.history = History()
        # Per split, of the latest evaluation, which after training is of the weights kept: the full report (with its
        # table) and the corpus result (with eval_corpus); their numbers are the history's kept_evaluations.
        self.reports: dict[str, dict] = {}
        self.corpus_results: dict = {}  # split -> dpr_nb.evaluation.corpus_eval.CorpusResult
        # Per split, of the latest evaluation: each question's own result, so that two runs can be compared question
        # by question (dpr_nb.evaluation.paired): {"question": [...], "average_rank": [...], "top_5_accuracy": ...}.
        self.per_question: dict[str, dict[str, list]] = {}
        self.weights_step: int | None = None  # after training: the step whose weights the model holds
        self.step = 0
        self.total_steps: int | None = None  # optimizer steps of the whole run, known once train() starts
        self._corpus = None  # the eval_corpus passages, read once
        self.best_weights = BestWeights(config.selection_metric, config.early_stopping_patience)
        self._gathered_keys: list[str] | None = None  # every process's passage keys of the last batch (torchrun)
        self._stop_requested = False
        self.stop_on_interrupt = False  # a first SIGINT asks for a stop (request_stop) instead of raising

    def request_stop(self) -> None:
        """End training after the step under way, as at its planned end: dev evaluated, a checkpoint saved (with
        checkpoint_dir), the weights kept (the best, with selection_metric) left in the model; history.stopped_at
        is the last step trained, and train(resume=True) continues from there. Safe from any thread."""
        if self.group.world_size > 1:  # one process leaving the loop would leave the others waiting for it
            raise SettingsError("request_stop stops one process: under torchrun, interrupt every process instead.")
        self._stop_requested = True

    def add_callback(self, event: str, callback: Callable) -> None:
        if event not in EVENTS:
            raise SettingsError(f"Unknown event {event!r}; events are {EVENTS}")
        self.callbacks[event].append(callback)

    def _emit(self, event: str, *args) -> None:
        for callback in self.callbacks[event]:
            callback(self, *args)

    # -------------------------------------------------------------------------------------------------------------
    def make_batch(self, items):
        return config_batch(items, self.model, self.config)

    def evaluation_batches(self, examples: Sequence[DPRExample]) -> list:
        """Fixed batches (no shuffling, the first hard negatives) so every evaluation ranks the same candidates."""
        return evaluation_batches(examples, self.model, self.config)

    def evaluate(self, examples: Sequence[DPRExample], split: str = "dev") -> dict:
        """The report on `examples`, recorded in the history and sent to the "on_evaluate" callbacks."""
        return self._evaluate_batches(self.evaluation_batches(examples), split, examples)

    def _optimizer(self) -> torch.optim.Optimizer:
        # As BERT: no weight decay on biases and LayerNorm weights (1-dimensional parameters).
        decay = [p for p in self.model.parameters() if p.requires_grad and p.dim() > 1]
        no_decay = [p for p in self.model.parameters() if p.requires_grad and p.dim() <= 1]
        groups = [
            {"params": decay, "weight_decay": self.config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        # One fused kernel for every parameter instead of a loop over them: the same update in a fraction of the
        # optimizer's time on a CPU (docs/benchmarks.md, "Training throughput").
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.AdamW(groups, lr=self.learning_rate, eps=self.config.epsilon, fused=fused)

    def _precision(self) -> tuple[torch.dtype | None, torch.amp.GradScaler | None]:
        """(autocast dtype or None for float32, gradient scaler for fp16)."""
        choice = self.config.precision
        if self.device.type != "cuda":
            # "auto" stays float32 on a CPU (bf16 is faster there only on CPUs with bf16 matrix units, AMX) and on
            # Apple's MPS, where float32 is the tested path.
            if choice == "bf16":
                return torch.bfloat16, None  # asked for: CPU autocast, which is also how CI runs this path
            if choice == "fp16":
                warnings.warn(
                    f"precision='fp16' needs an NVIDIA GPU: training in float32 on {self.device.type}.", stacklevel=3
                )
            return None, None
        if choice == "auto":
            # bf16 has float32's range, so it needs no loss scaling; only Ampere (compute capability 8) and later
            # have it in hardware. A T4 (7.5) gets fp16, whose small range needs the GradScaler.
            choice = "bf16" if torch.cuda.get_device_capability(self.device)[0] >= 8 else "fp16"
        if choice == "fp32":
            return None, None
        dtype = torch.bfloat16 if choice == "bf16" else torch.float16
        return dtype, torch.amp.GradScaler("cuda") if dtype == torch.float16 else None

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.autocast_dtype) if self.autocast_dtype else nullcontext()

    # -------------------------------------------------------------------------------------------------------------
    # One batch: forward, loss over the whole (gathered) batch, backward

    def _loss(self, query_embeddings: torch.Tensor, passage_embeddings: torch.Tensor, batch: Batch) -> torch.Tensor:
        positive_mask, passage_mask = batch.positive_mask, None
        if self.group.enabled:
            query_embeddings = gather_with_grad(query_embeddings, self.group)  # (all questions, dim)
            passage_embeddings = gather_with_grad(passage_embeddings, self.group)  # (all passages, dim)
            positive_mask, passage_mask = self._global_masks(batch)
        loss, _ = in_batch_negatives_loss(
            query_embeddings.float(),
            passage_embeddings.float(),
            positive_mask,
            self.similarity_function,
            self.temperature,
            passage_mask,
        )
        return loss

    def _global_masks(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Which gathered passage answers which gathered question, and which passages are first copies.

        Each process deduplicates its own passages; a passage two processes brought is kept once (its first copy),
        so the batch means the same as in one process.
        """
        parts = gather_objects((batch.passage_keys, batch.positive_keys), self.group)
        keys = [key for passage_keys, _ in parts for key in passage_keys]
        self._gathered_keys = keys  # for the step record's negatives from other processes
        positives = [keys_of_question for _, positive_keys in parts for keys_of_question in positive_keys]
        first: dict[str, int] = {}
        keep = torch.tensor([first.setdefault(key, i) == i for i, key in enumerate(keys)])  # (all passages,)
        positive_mask = torch.tensor([[key in question for key in keys] for question in positives]) & keep
        return positive_mask.to(self.device), keep.to(self.device)

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def forward_backward(self, batch: Batch, weight: float) -> float:
        """Add `weight` x this batch's gradient to the parameters; return the batch's loss."""
        if self.config.grad_cache_chunk_size is None:
            with self._autocast():
                query_embeddings, passage_embeddings = self.model(batch.query, batch.passage)
            loss = self._loss(query_embeddings, passage_embeddings, batch)
            self._backward(loss * weight)
            return loss.item()
        # Gradient caching (dpr_nb.model.grad_cache): the same gradient, in the memory of one chunk.
        cache = GradCache(self.config.grad_cache_chunk_size, self.device, self._autocast)
        encoders = ((self.model.query_encoder, batch.query), (self.model.passage_encoder, batch.passage))
        queries, passages = (cache.embed(encoder, inputs) for encoder, inputs in encoders)  # no graph
        loss = self._loss(queries.embeddings, passages.embeddings, batch)
        self._backward(loss * weight)  # stops at the embeddings: their .grad is d(loss)/d(embedding)
        for (encoder, inputs), cached in zip(encoders, (queries, passages)):
            cache.backward(encoder, inputs, cached)  # each chunk again, with its graph
        return loss.item()

    def _memory_advice(self, batch: Batch) -> str:
        c = self.config
        passages, length = batch.passage["input_ids"].shape
        chunk = c.grad_cache_chunk_size
        ways = [
            f"grad_cache_chunk_size={max(1, chunk // 2)} (now {chunk})"
            if chunk
            else "grad_cache_chunk_size=16: the same batch and negatives, in the memory of 16 texts",
            f"a shorter max_seq_len_passage (now {c.max_seq_len_passage})",
            f"fewer num_hard_negatives (now {c.num_hard_negatives})",
        ]
        if self.autocast_dtype is None:
            ways.append("precision='auto' (mixed precision halves activation memory)")
        return (
            f"The GPU ran out of memory at step {self.step + 1}: batch_size={c.batch_size} questions with "
            f"{passages} passages of up to {length} tokens. To fit, set " + "; or ".join(ways) + "."
        )

    # -------------------------------------------------------------------------------------------------------------
    def train(self, resume: bool = False, restart: bool = False) -> History:
        """Train for config.n_epochs (or config.max_steps); with `resume`, continue from the newest checkpoint in
        config.checkpoint_dir.

        A checkpoint_dir that holds an earlier run's checkpoints is refused unless `resume` (continue it) or
        `restart` (replace it: its checkpoints are deleted once this run has one of its own); `resume` with no
        checkpoint is refused too. Both are found out before the first step.
        """
        c = self.config
        # Never mixed: resume would pick the highest step, which could be the other run's.
        earlier_checkpoints = checkpoints_to_replace(c.checkpoint_dir, resume, restart)
        torch.manual_seed(c.seed + self.group.rank)  # dropout masks: repeatable, different in each process
        self.model.to(self.device).train()
        broadcast_parameters(self.model, self.group)
        # Under torchrun a last batch smaller than the number of processes would leave one with nothing to encode.
        sampler = BatchSampler(
            self.train_examples,
            c.batch_size,
            c.num_positives,
            c.num_hard_negatives,
            shuffle=True,
            seed=c.seed,
            min_last_batch=self.group.world_size,
        )
        batches_per_epoch = len(sampler)
        total_steps = c.total_steps(batches_per_epoch)
        # n_epochs, or as many epochs as max_steps takes (the last one may stop part-way)
        epochs = math.ceil(total_steps / math.ceil(batches_per_epoch / c.grad_acc_steps))
        self.total_steps = total_steps  # for progress displays subscribed to "on_train_start"
        optimizer = self._optimizer()
        scheduler = get_linear_schedule_with_warmup(optimizer, c.warmup_steps(total_steps), total_steps)
        dev_batches = self.evaluation_batches(self.dev_examples) if self.dev_examples else None
        checkpoints = Checkpointing(
            c,
            self.group,
            model=self.model,
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=self.scaler,
            sampler=sampler,
            best_weights=self.best_weights,
            train_questions=len(self.train_examples),
            replaces=earlier_checkpoints,
        )
        start_epoch = 0
        if resume:
            start_epoch, self.step, self.history = checkpoints.resume(self.device)
            if self.step >= total_steps or self.history.stopped_early_at:
                self._keep_best_weights(dev_batches)  # the checkpoint is of a finished run: nothing left to train
                return self.history
            self.history.stopped_at = None  # a stopped run continues
        self._stop_requested = False
        self._emit("on_train_start")
        # Within it, a first interrupt asks for a stop (with stop_on_interrupt): see _interrupt_asks_stop.
        with self._interrupt_asks_stop():
            progress = tqdm(
                total=total_steps,
                initial=self.step,
                desc="training",
                unit="step",
                disable=not (self.progress_bar and self.group.is_main),
            )
            stop = False
            last_epoch = start_epoch
            for epoch in range(start_epoch, epochs):
                if stop or self.step >= total_steps:
                    break
                last_epoch = epoch
                accumulated_loss, negatives = 0.0, Counter()
                for index, items in enumerate(sampler, start=sampler.batches_done):
                    # Gradient accumulation: batches group_start .. group_start + group_size - 1 make one step.
                    group_start = index - index % c.grad_acc_steps
                    group_size = min(c.grad_acc_steps, batches_per_epoch - group_start)
                    shared = self.group.share(items)
                    batch = self.make_batch(shared).to(self.device)
                    try:
                        loss = self.forward_backward(batch, 1 / group_size)
                    except torch.OutOfMemoryError:
                        raise TrainingMemoryError(self._memory_advice(batch)) from None
                    if not math.isfinite(loss):  # before the optimizer step: the weights stay those of the last step
                        raise TrainingDivergedError(
                            f"The loss became {loss} at step {self.step + 1}: training stopped before the weights, a "
                            f"checkpoint or the model were changed. Lower learning_rate (now {self.learning_rate}) or "
                            f"raise temperature, or train in precision='fp32'."
                        )
                    accumulated_loss += loss / group_size
                    # Per question, averaged over the step's batches: accumulation adds batches, not negatives.
                    for name, value in count_negatives(shared, self._gathered_keys).items():
                        negatives[name] += value / group_size
                    if index - group_start + 1 < group_size:
                        continue
                    learning_rate = self._optimizer_step(optimizer, scheduler)
                    record = {
                        "step": self.step,
                        "epoch": epoch,
                        "loss": accumulated_loss,
                        "learning_rate": learning_rate,
                    }
                    record.update({name: negatives[name] for name in NEGATIVES})
                    negatives = Counter()
                    self.history.steps.append(record)
                    self._emit("on_step_end", record)
                    progress.update(1)
                    progress.set_postfix(loss=f"{accumulated_loss:.4f}")
                    accumulated_loss = 0.0
                    if self.step >= total_steps:  # the last step (with max_steps, maybe within an epoch)
                        break
                    if self._stop_requested:  # asked by a callback, a widget or an interrupt: end as at the last step
                        self.history.stopped_at = self.step
                        stop = True
                        break
                    if dev_batches and c.evaluate_every and self.step % c.evaluate_every == 0:
                        stop = self._evaluate_dev(dev_batches)
                    if checkpoints.due(self.step):
                        checkpoints.save(self.step, epoch, self.history, on_saved=self._checkpoint_saved)
                    if stop:
                        self.history.stopped_early_at = self.step
                        break
            progress.close()
            if dev_batches and not self.history.stopped_early_at:  # early stopping has just evaluated this step
                self._evaluate_dev(dev_batches)
            if c.checkpoint_dir:  # the training state: the last step's weights, and the best ones beside them
                checkpoints.save(self.step, last_epoch, self.history, on_saved=self._checkpoint_saved)
        self._keep_best_weights(dev_batches)
        self._emit("on_train_end", self.history)
        return self.history

    @contextmanager
    def _interrupt_asks_stop(self):
        """With stop_on_interrupt, the first SIGINT asks for a stop at the end of the step, so an interrupted
        notebook keeps its model; a second one raises KeyboardInterrupt at once, as Python's own handler does."""
        if not self.stop_on_interrupt or threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set in the main thread
            return

        def handler(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True
            print("Stopping at the end of this step, keeping the model so far; interrupt again to stop at once.")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _keep_best_weights(self, dev_batches) -> None:
        """Leave the model with the weights training keeps (the best evaluation's, with selection_metric) and dev's
        report about those weights: what is saved, what the model card says and what a resume returns are the same
        weights, described by their own evaluation, not the last step's."""
        kept_step = self.best_weights.restore(self.model)  # None without selection_metric: the last step's weights
        kept_step = self.weights_step = self.step if kept_step is None else kept_step
        described = self.history.kept_evaluations.get("dev", {}).get("step") == kept_step and "dev" in self.reports
        if dev_batches and not described:
            # The last dev evaluation was of other weights (or, resuming a finished run, none was made here). The
            # curve in the history keeps its evaluations as they were; this one describes the weights kept.
            self._evaluate_batches(dev_batches, "dev", self.dev_examples, step=kept_step, in_history=False)

    def _evaluate_dev(self, dev_batches) -> bool:
        """Evaluate on dev and keep the best weights by selection_metric; True when early stopping says stop."""
        self._evaluate_batches(dev_batches, "dev", self.dev_examples)
        stop = self.best_weights.observe(self.step, self.history.evaluations[-1], self.model)
        self.history.best = self.best_weights.best  # in the history, it goes into checkpoints and the model card
        return stop

    def _checkpoint_saved(self, folder) -> None:
        self._emit("on_checkpoint", folder)

    def _optimizer_step(self, optimizer, scheduler) -> float:
        all_reduce_gradients(self.model, self.group)
        if self.scaler:
            self.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        if self.scaler:
            self.scaler.step(optimizer)  # skipped when fp16 overflowed; the scale then shrinks
            self.scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        learning_rate = scheduler.get_last_lr()[0]
        scheduler.step()
        self.step += 1
        return learning_rate

    def _corpus_evaluation(self, examples: Sequence[DPRExample]):
        """Every question ranks the whole eval_corpus (dpr_nb.evaluation.corpus_eval), with the model as it is now."""
        c = self.config
        if self._corpus is None:
            self._corpus = load_corpus(c.eval_corpus)
        k = metric_k(c.selection_metric) if c.selection_metric else None
        ks = sorted(set(DEFAULT_KS) | ({k} if k else set()))
        embedder = TextEmbedder(
            self.model,
            c.max_seq_len_query,
            c.max_seq_len_passage,
            c.embed_title,
            self.similarity_function,
            c.eval_batch_size or c.batch_size,
            self.device,
            progress_bar=False,
        )
        was_training = self.model.training
        try:
            return evaluate_corpus(embedder, examples, self._corpus, ks)
        finally:
            self.model.train(was_training)

    def _evaluate_batches(
        self,
        batches,
        split: str,
        examples: Sequence[DPRExample] | None = None,
        step: int | None = None,
        in_history: bool = True,
    ) -> dict:
        """Evaluate the model as it is now, as of `step` (default: the step whose weights it holds); recorded in the
        history's curve (and sent to the "on_evaluate" callbacks) unless `in_history` is False."""
        report = evaluate(self.model, batches, self.similarity_function, self.temperature, self.device)
        self.reports[split] = report  # the latest full report (with its table) per split
        step = step if step is not None else self.weights_step if self.weights_step is not None else self.step
        record = {"step": step, "split": split}
        record.update(report_numbers(report))
        per_question = {"question": [e.question for e in examples or []], "average_rank": report["question_ranks"]}
        if self.config.eval_corpus and examples:
            result = self._corpus_evaluation(examples)
            self.corpus_results[split] = result
            record.update({k: v for k, v in result.metrics.items() if k != "questions"})
            per_question |= {name: values.tolist() for name, values in result.per_question.items()}
            per_question["gold_rank"] = result.gold_ranks.tolist()  # in the whole corpus, from 0; -1: not in it
        self.per_question[split] = per_question
        self.history.kept_evaluations[split] = {**record, "questions": len(examples) if examples is not None else None}
        if in_history:
            self.history.evaluations.append(record)
            self._emit("on_evaluate", record)
        return report
