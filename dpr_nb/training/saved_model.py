"""The one folder a trained model is saved as: written by `save_model_folder`, read by `read_model_folder`.

    save_dir/
        query_encoder/          the query encoder: DPR's format for a [CLS]-pooled BERT, else the transformer's own;
                                also a sentence-transformers model with the same vectors (dpr_nb.model.encoders)
        passage_encoder/        the passage encoder, the same way (the same weights again when they are shared)
        retriever_config.json   how the model embeds: lengths, titles, similarity, whether the encoders are one
        train_config.json       the run's TrainConfig, when it was trained here
        history.json            its losses and evaluations
        README.md, *.png        the model card (dpr_nb.training.model_card), with the training and top-k curves

A folder published on the Hugging Face Hub (dpr_nb.training.publish) reads back by its Hub name, "owner/model".

Every path that saves a model writes this folder (`DensePassageRetriever.save`, its `train(save_dir=...)`, and
`dpr_nb.training.runs.train_run(save_model=True)`, which the sweeps use), so a model loads back embedding exactly as it
was trained wherever it was saved from. The folder is written whole beside save_dir and swapped in (dpr_nb.core.files),
under save_dir's lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..core.config import TrainConfig
from ..core.files import folder_lock, recover_folder, replace_folder, temporary_folder
from ..model.embedding import TextEmbedder
from ..model.encoders import BiEncoder, Encoder
from .trainer import History

RETRIEVER_FILE = "retriever_config.json"


def save_model_folder(
    save_dir: str | Path,
    embedder: TextEmbedder,
    train_config: TrainConfig | None = None,
    history: History | None = None,
    reports: dict | None = None,
    corpus_results: dict | None = None,
    query_encoder_dir: str = "query_encoder",
    passage_encoder_dir: str = "passage_encoder",
) -> Path:
    """Write `embedder`'s model (a TextEmbedder, or a DensePassageRetriever) with the settings it embeds with, and
    what its training recorded (the reports and corpus results are of the weights saved), atomically."""
    save_dir = Path(save_dir)
    with folder_lock(save_dir):  # never two processes writing one folder: one model would be lost
        recover_folder(save_dir)  # an earlier save a kill interrupted: finished, and dead processes' copies removed
        temporary = temporary_folder(save_dir)
        model = embedder.model
        for encoder, folder, role, length in (
            (model.query_encoder, query_encoder_dir, "query", embedder.max_seq_len_query),
            (model.passage_encoder, passage_encoder_dir, "passage", embedder.max_seq_len_passage),
        ):
            encoder.save(
                temporary / folder, role=role, max_seq_length=length, similarity_function=embedder.similarity_function
            )
        settings = {
            "max_seq_len_query": embedder.max_seq_len_query,
            "max_seq_len_passage": embedder.max_seq_len_passage,
            "embed_title": embedder.embed_title,
            "similarity_function": embedder.similarity_function,
            "query_encoder_dir": query_encoder_dir,
            "passage_encoder_dir": passage_encoder_dir,
            # Both folders hold the same weights then (for tools that expect two); reading them gives one encoder.
            "shared_encoders": model.shares_encoders,
        }
        (temporary / RETRIEVER_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        if train_config:
            train_config.save(temporary / "train_config.json")
        if history:
            history.save(temporary / "history.json")
        from ..evaluation.plots import plot_top_k, plot_training
        from .model_card import write_model_card

        figures = {}
        if history and history.steps:
            figures["training"] = plot_training(history)
        if corpus_results:
            figures["top_k_accuracy"] = plot_top_k(corpus_results)
        corpus_metrics = {f"{split}, full corpus": result for split, result in (corpus_results or {}).items()}
        write_model_card(
            temporary,
            embedder,
            corpus_metrics=corpus_metrics or None,
            figures=figures,
            config=train_config,
            history=history,
            reports=reports,
            load_dir=str(save_dir),
        )
        replace_folder(temporary, save_dir)  # the old save (if any) stays whole until the new one is complete
    return save_dir


@dataclass
class SavedModel:
    """What `read_model_folder` found: the model, how it embeds, and what its training recorded."""

    model: BiEncoder
    settings: dict  # retriever_config.json's: max_seq_len_query, max_seq_len_passage, embed_title, ...
    history: History | None
    train_config: TrainConfig | None


def hub_model_folder(name: str | Path) -> Path:
    """The Hub repository `name` ("owner/model", as retriever.push_to_hub published it), downloaded into the Hugging
    Face cache (offline, HF_HUB_OFFLINE=1: the cached copy). A name that is neither a folder here nor such a
    repository ends in one FileNotFoundError that says both."""
    missing = FileNotFoundError(
        f"No saved retriever at {name}: not a folder here (expected one made by retriever.save()), nor a model on "
        "the Hugging Face Hub that retriever.push_to_hub() published."
    )
    repo_id = Path(name).as_posix()
    # "saved_models/dpr" where saved_models/ is a folder here names a missing local model: no need to ask the Hub
    # (offline, that waits through its retries).
    if Path(name).is_absolute() or repo_id.count("/") != 1 or Path(repo_id.split("/")[0]).is_dir():
        raise missing
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=repo_id, repo_type="model"))
    # No such repository, no connection and no cached copy, or not a valid repository name.
    except (OSError, ValueError) as error:
        raise missing from error


def read_model_folder(
    load_dir: str | Path, query_encoder_dir: str | None = None, passage_encoder_dir: str | None = None
) -> SavedModel:
    """The model in a folder `save_model_folder` wrote (or an older dpr_nb one), here or published on the Hub: one
    encoder if it was saved as one, else two; the settings it embeds with; its history and TrainConfig where
    recorded."""
    load_dir = Path(load_dir)
    recover_folder(load_dir)  # a save killed between its two renames left the complete model beside load_dir
    if not load_dir.is_dir():
        load_dir = hub_model_folder(load_dir)
    settings = {}
    train_config = None
    if (load_dir / "train_config.json").is_file():
        train_config = TrainConfig.load(load_dir / "train_config.json")
    if (load_dir / RETRIEVER_FILE).is_file():
        settings = json.loads((load_dir / RETRIEVER_FILE).read_text(encoding="utf-8"))
    elif train_config or (load_dir.parent / "run.json").is_file():
        # A folder without our settings: a run store's model/ written before 0.3 (BiEncoder.save), whose run's
        # TrainConfig sits in the run's folder above it. The lengths, titles and similarity the run trained with.
        train_config = train_config or TrainConfig.load(load_dir.parent / "train_config.json")
        settings = {
            "max_seq_len_query": train_config.max_seq_len_query,
            "max_seq_len_passage": train_config.max_seq_len_passage,
            "embed_title": train_config.embed_title,
            "similarity_function": train_config.similarity_function,
        }
    query_dir = query_encoder_dir or settings.get("query_encoder_dir", "query_encoder")
    passage_dir = passage_encoder_dir or settings.get("passage_encoder_dir", "passage_encoder")
    query_encoder = Encoder.from_pretrained(load_dir / query_dir)
    # A model saved as one shared encoder reads back as one (half the memory), and trains on as one by default.
    shared = settings.get("shared_encoders") and (query_dir, passage_dir) == (
        settings.get("query_encoder_dir"),
        settings.get("passage_encoder_dir"),
    )
    passage_encoder = query_encoder if shared else Encoder.from_pretrained(load_dir / passage_dir)
    history = None
    if (load_dir / "history.json").is_file():
        history = History.from_dict(json.loads((load_dir / "history.json").read_text("utf-8")))
    return SavedModel(BiEncoder(query_encoder, passage_encoder), settings, history, train_config)
