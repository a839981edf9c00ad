"""The one way a training runs, whoever starts it:

    trained = train_model(TrainConfig.preset("smoke", save_dir="saved_models/mine"))

1. checks what can be checked before any work: the folders it will write (save_dir, checkpoint_dir), an earlier
   run's checkpoints (refused unless resume or restart), lengths the model cannot take;
2. builds the model from the config's models (or trains the one given), loads the train / dev / test splits;
3. trains (dpr_nb.training.trainer), keeping the weights selection_metric chose, and evaluates test with them;
4. saves once, into the one saved-model folder (dpr_nb.training.saved_model), holding save_dir's lock from the first
   step to the last write; a save that fails leaves the model in a rescue folder the error names.

`DensePassageRetriever.train` maps Haystack's arguments onto a TrainConfig and calls this; `runs.train_run` (and so
the sweeps and the SweepPanel) and `dpr-nb train` call it too: a model saved by any of them is the same folder,
described by the same evaluations.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.config import TrainConfig
from ..core.files import SaveFailedError, ensure_writable, folder_lock
from ..data.splits import load_training_data
from ..model.embedding import TextEmbedder
from ..model.encoders import BiEncoder
from .checkpoints import checkpoints_to_replace
from .saved_model import save_model_folder
from .trainer import History, Trainer

Callbacks = Mapping[str, Callable | Sequence[Callable]]


@dataclass
class TrainedModel:
    """What a training leaves: the model with the weights kept, how it embeds, and what was recorded about it."""

    model: BiEncoder
    config: TrainConfig
    history: History
    reports: dict  # split -> the report of the weights kept (dpr_nb.evaluation.report)
    corpus_results: dict  # split -> dpr_nb.evaluation.corpus_eval.CorpusResult, with eval_corpus
    per_question: dict  # split -> each question's results (Trainer.per_question), of the weights kept
    similarity_function: str
    device: torch.device
    saved_to: Path | None  # config.save_dir, or None when nothing was saved

    def embedder(self) -> TextEmbedder:
        c = self.config
        return TextEmbedder(
            self.model, c.max_seq_len_query, c.max_seq_len_passage, c.embed_title, self.similarity_function
        )


def train_model(
    config: TrainConfig,
    model: BiEncoder | None = None,
    *,
    callbacks: Callbacks | None = None,
    resume: bool = False,
    restart: bool = False,
    progress_bar: bool = False,
    query_encoder_dir: str = "query_encoder",
    passage_encoder_dir: str = "passage_encoder",
) -> TrainedModel:
    """Train `model` (default: built from config.query_model and config.passage_model) as `config` says, evaluate
    the held-out splits with the weights kept, and save them to config.save_dir (None: nothing is saved).

    `callbacks` maps a trainer event ("on_step_end", "on_evaluate", ...) to a function or a list of them; `resume`
    continues from the newest checkpoint in config.checkpoint_dir, `restart` replaces an earlier run's checkpoints.
    Under torchrun every process trains and process 0 alone saves.
    """
    # Found out now, not after hours of training: a folder the run could not write its results to, a checkpoint_dir
    # holding another run's checkpoints.
    for setting in ("save_dir", "checkpoint_dir"):
        if getattr(config, setting):
            ensure_writable(getattr(config, setting), setting)
    checkpoints_to_replace(config.checkpoint_dir, resume, restart)
    if model is None:
        model = BiEncoder.from_pretrained(config.query_model, config.passage_model)
    model.check_lengths(config.max_seq_len_query, config.max_seq_len_passage)
    splits = load_training_data(config)
    trainer = Trainer(model, config, splits["train"], splits["dev"] or None, progress_bar)
    for event, functions in (callbacks or {}).items():
        for function in functions if isinstance(functions, (list, tuple)) else [functions]:
            trainer.add_callback(event, function)
    saves = bool(config.save_dir) and trainer.group.is_main  # under torchrun, one process writes
    with contextlib.ExitStack() as held:
        if saves:  # a second run into this save_dir is refused until this one is done
            held.enter_context(folder_lock(config.save_dir))
        history = trainer.train(resume=resume, restart=restart)
        if splits["test"]:
            trainer.evaluate(splits["test"], "test")
        trained = TrainedModel(
            model,
            config,
            history,
            trainer.reports,
            trainer.corpus_results,
            trainer.per_question,
            trainer.similarity_function,
            trainer.device,
            Path(config.save_dir) if saves else None,
        )
        if saves:
            save(trained, Path(config.save_dir), query_encoder_dir, passage_encoder_dir)
    trainer.group.barrier()
    return trained


def save(trained: TrainedModel, save_dir: Path, query_encoder_dir: str, passage_encoder_dir: str) -> None:
    """The saved-model folder; if the disk fails (full, vanished), the trained weights go to a rescue folder."""
    arguments = (trained.config, trained.history, trained.reports, trained.corpus_results)
    try:
        save_model_folder(save_dir, trained.embedder(), *arguments, query_encoder_dir, passage_encoder_dir)
    except OSError as error:
        rescue = Path(tempfile.mkdtemp(prefix="dpr_nb-unsaved-")) / "model"
        save_model_folder(rescue, trained.embedder(), *arguments, query_encoder_dir, passage_encoder_dir)
        raise SaveFailedError(
            f"Saving to {save_dir} failed ({error}). The trained model was saved to {rescue} instead: copy it "
            "where you want it (it loads with DensePassageRetriever.load)."
        ) from None
