"""`DensePassageRetriever`: Haystack v1's DPR interface on top of dpr_nb's encoders, trainer and report.

The code of Haystack v1's tutorial "Training your own DPR model" runs with only its imports changed:

    retriever = DensePassageRetriever(document_store=InMemoryDocumentStore(), query_embedding_model=query_model,
        passage_embedding_model=passage_model, max_seq_len_query=64, max_seq_len_passage=256)
    retriever.train(data_dir=doc_dir, train_filename=train_filename, dev_filename=dev_filename,
        test_filename=dev_filename, n_epochs=1, batch_size=16, grad_acc_steps=8, save_dir=save_dir,
        evaluate_every=3000, embed_title=True, num_positives=1, num_hard_negatives=1)
    reloaded_retriever = DensePassageRetriever.load(load_dir=save_dir, document_store=None)

Unlike Haystack v1, grad_acc_steps really accumulates gradients, the similarity follows the checkpoint unless you
choose one, and an argument that cannot apply here raises an error or warns instead of being ignored.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from .core.config import TrainConfig
from .core.errors import SettingsError
from .data.batches import evaluation_batches
from .data.documents import Document
from .data.dpr_file import DPRExample
from .data.splits import load_questions
from .evaluation.report import evaluate as evaluate_report
from .model.embedding import TextEmbedder
from .model.encoders import BiEncoder
from .training.saved_model import read_model_folder, save_model_folder
from .training.train import train_model
from .training.trainer import History, resolve_device, resolve_similarity

_UNSET = object()  # tells an argument the caller left alone from one they set to its default


class DensePassageRetriever(TextEmbedder):
    """Haystack v1's retriever: a TextEmbedder (dpr_nb.model.embedding) with a document store, training and saving."""

    def __init__(
        self,
        document_store=None,
        query_embedding_model: str = "facebook/dpr-question_encoder-single-nq-base",
        passage_embedding_model: str = "facebook/dpr-ctx_encoder-single-nq-base",
        model_version: str | None = None,
        max_seq_len_query: int = 64,
        max_seq_len_passage: int = 256,
        top_k: int = 10,
        use_gpu: bool = True,
        batch_size: int = 16,
        embed_title: bool = True,
        use_fast_tokenizers: bool = True,
        similarity_function: str | None = None,
        global_loss_buffer_size=_UNSET,
        progress_bar: bool = True,
        devices: list | None = None,
        use_auth_token=None,
        scale_score: bool = True,
        model: BiEncoder | None = None,
    ):
        """`similarity_function` None means what the checkpoint was trained with: dot product for DPR and BERT
        checkpoints, cosine for a sentence-transformers checkpoint that compares by cosine (dpr_nb.model.encoders)."""
        if not use_fast_tokenizers:
            warnings.warn(
                "use_fast_tokenizers=False: transformers 5 has only fast tokenizers; using those.", stacklevel=2
            )
        if global_loss_buffer_size is not _UNSET:
            warnings.warn(
                "global_loss_buffer_size only sized Haystack's multi-GPU buffer; it has no effect here.", stacklevel=2
            )
        if similarity_function not in (None, "dot_product", "cosine"):  # before a model download, not after
            raise SettingsError(f"similarity_function={similarity_function!r}; use 'dot_product' or 'cosine'.")
        if devices and len(devices) > 1:
            warnings.warn(
                f"devices={devices}: this retriever uses one device, {devices[0]}. For several GPUs "
                "run training under torchrun.",
                stacklevel=2,
            )
        device = torch.device(devices[0]) if devices else resolve_device("auto" if use_gpu else "cpu")
        model = model or BiEncoder.from_pretrained(
            query_embedding_model, passage_embedding_model, revision=model_version, token=use_auth_token
        )
        super().__init__(
            model.to(device),
            max_seq_len_query,
            max_seq_len_passage,
            embed_title,
            similarity_function,
            batch_size,
            device,
            progress_bar,
        )
        self.document_store, self.top_k, self.scale_score = document_store, top_k, scale_score
        self.history: History | None = None
        self.train_config: TrainConfig | None = None
        self.reports: dict[str, dict] = {}
        self.corpus_results: dict = {}  # split -> CorpusResult, when trained with eval_corpus

    # ----------------------------------------------------------------------------------------------------------
    # Embedding and retrieval

    def retrieve(
        self,
        query: str,
        filters=None,
        top_k: int | None = None,
        index=None,
        headers=None,
        scale_score: bool | None = None,
        document_store=None,
    ) -> list[Document]:
        """The top_k documents of the document store for `query`, best first, with their scores."""
        return self.retrieve_batch([query], filters, top_k, index, headers, scale_score, document_store)[0]

    def retrieve_batch(
        self,
        queries: Sequence[str],
        filters=None,
        top_k: int | None = None,
        index=None,
        headers=None,
        scale_score: bool | None = None,
        document_store=None,
    ) -> list[list[Document]]:
        store = document_store or self.document_store
        if store is None:
            raise SettingsError(
                "This retriever has no document store: pass document_store= to retrieve(), or create "
                "the retriever with one and call document_store.update_embeddings(retriever)."
            )
        if filters or index or headers:
            raise NotImplementedError("filters, index and headers are not supported by the in-memory store.")
        top_k = self.top_k if top_k is None else top_k
        if not isinstance(top_k, numbers.Integral) or top_k < 1:
            raise SettingsError(f"top_k={top_k!r}: ask for at least 1 document.")
        embeddings = self.embed_queries(queries)
        return [
            store.query_by_embedding(
                e,
                top_k=top_k,
                similarity=self.similarity_function,
                scale_score=self.scale_score if scale_score is None else scale_score,
            )
            for e in embeddings
        ]

    # ----------------------------------------------------------------------------------------------------------
    # Training and evaluation

    @classmethod
    def from_config(cls, config: TrainConfig, document_store=None, **settings) -> DensePassageRetriever:
        """A retriever of `config`'s models, lengths, title setting, similarity and device, untrained: what a run of
        `config` starts from (`retriever.train(config=config)`). `settings` are the constructor's other arguments
        (document_store, batch_size, progress_bar, ...)."""
        device = resolve_device(config.device)
        return cls(
            document_store=document_store,
            query_embedding_model=config.query_model,
            passage_embedding_model=config.passage_model,
            max_seq_len_query=config.max_seq_len_query,
            max_seq_len_passage=config.max_seq_len_passage,
            embed_title=config.embed_title,
            similarity_function=config.similarity_function,
            devices=[device],
            **settings,
        )

    def _config(self, config: TrainConfig | None = None, **settings) -> TrainConfig:
        """The TrainConfig of a run: `config` (or this retriever's own lengths and similarity), then `settings`.

        The models are always this retriever's. A `config` given explicitly decides the lengths (and the similarity,
        unless it leaves it None), and the retriever adopts them after training, so it embeds as it was trained.
        """
        if config is None:
            config = TrainConfig(
                max_seq_len_query=self.max_seq_len_query,
                max_seq_len_passage=self.max_seq_len_passage,
                similarity_function=self.similarity_function,
                embed_title=self.embed_title,
            )
        # A device the config names (device="cuda:1") is honoured: the model moves there for training and stays.
        # Otherwise this retriever's, recorded as "auto" where it is the one "auto" picks, as train_model records it.
        device = config.device
        if device == "auto" and self.device != resolve_device("auto"):
            device = str(self.device)
        # The similarity this retriever was given; None where it is the checkpoint's own (as a config leaves it).
        chosen = self.similarity_function if self.similarity_function != self.model.similarity_function else None
        fixed = {
            "query_model": self.model.query_encoder.source,
            "passage_model": self.model.passage_encoder.source,
            "device": device,
            "similarity_function": config.similarity_function or chosen,
        }
        return config.replace(**fixed, **{k: v for k, v in settings.items() if v is not None})

    def evaluate(
        self,
        data: str | Path | Iterable[DPRExample | dict],
        batch_size: int | None = None,
        num_hard_negatives: int = 1,
        num_positives: int = 1,
        embed_title: bool | None = None,
    ) -> dict:
        """The report (dpr_nb.evaluation.report) on a DPR file, a BEIR folder, a list of examples or records, or a
        `datasets.Dataset` (dpr_nb.data.splits.load_questions), without training. The model is only read: evaluating
        never changes its weights, or whether it is one encoder or two."""
        examples = load_questions(data)
        config = self._config(
            batch_size=batch_size or self.batch_size,
            num_hard_negatives=num_hard_negatives,
            num_positives=num_positives,
            embed_title=self.embed_title if embed_title is None else embed_title,
            temperature=self.train_config.temperature if self.train_config else None,  # the loss it trained with
        )
        similarity_function, temperature = resolve_similarity(config, self.model)
        batches = evaluation_batches(examples, self.model, config)
        return evaluate_report(self.model, batches, similarity_function, temperature, self.device)

    def train(
        self,
        data_dir: str | None = None,
        train_filename: str | None = None,
        dev_filename: str | None = None,
        test_filename: str | None = None,
        max_samples: int | None = None,
        max_processes=_UNSET,
        multiprocessing_strategy=_UNSET,
        dev_split: float | None = None,
        batch_size: int | None = None,
        embed_title: bool | None = None,
        num_hard_negatives: int | None = None,
        num_positives: int | None = None,
        n_epochs: int | None = None,
        evaluate_every: int | None = None,
        n_gpu: int = 1,
        learning_rate: float | None = None,
        epsilon: float | None = None,
        weight_decay: float | None = None,
        num_warmup_steps: int | None = None,
        grad_acc_steps: int | None = None,
        use_amp: bool | None = None,
        optimizer_name: str = "AdamW",
        optimizer_correct_bias: bool = True,
        save_dir=_UNSET,
        query_encoder_save_dir: str = "query_encoder",
        passage_encoder_save_dir: str = "passage_encoder",
        checkpoint_root_dir: str | None = None,
        checkpoint_every: int | None = None,
        checkpoints_to_keep: int | None = None,
        early_stopping=None,
        config: TrainConfig | None = None,
        callbacks: dict | None = None,
        seed: int | None = None,
        grad_cache_chunk_size: int | None = None,
        precision: str | None = None,
        resume: bool = False,
        restart: bool = False,
        eval_corpus: str | None = None,
        selection_metric: str | None = None,
    ) -> History:
        """Train both encoders on DPR files, evaluate on dev (and test), save to save_dir; returns the history.

        Arguments left out come from `config` (default: `TrainConfig()`); `save_dir=None` saves nothing.
        `callbacks` maps a trainer event ("on_step_end", "on_evaluate", ...) to a function or a list of functions.
        `checkpoint_root_dir` (Haystack's name for config.checkpoint_dir) turns on checkpoints every
        `checkpoint_every` steps; `resume=True` continues from the newest one there, `restart=True` replaces an
        earlier run's checkpoints there (without either, a folder holding some is refused). `eval_corpus` (a
        passages TSV or DPR file) adds full-corpus metrics to every evaluation; `selection_metric` keeps the best
        weights, and Haystack's `early_stopping=EarlyStopping(metric=..., patience=...)` sets it with a patience.
        """
        if max_processes is not _UNSET or multiprocessing_strategy is not _UNSET:
            warnings.warn(
                "max_processes and multiprocessing_strategy only parallelised Haystack's preprocessing; "
                "dpr_nb tokenises batch by batch, so they have no effect.",
                stacklevel=2,
            )
        if n_gpu != 1:
            raise SettingsError(
                f"n_gpu={n_gpu}: dpr_nb trains on several GPUs with one process each: launch the script "
                "with `torchrun --nproc_per_node N script.py` and leave n_gpu=1."
            )
        if optimizer_name != "AdamW" or not optimizer_correct_bias:
            raise SettingsError("Only AdamW with bias correction (torch.optim.AdamW) is supported.")
        selection = {"selection_metric": selection_metric}
        if early_stopping is not None:
            # Haystack's EarlyStopping(metric=..., patience=...): the same two settings of TrainConfig.
            metric = getattr(early_stopping, "metric", None)
            if not isinstance(metric, str):
                raise SettingsError(
                    "early_stopping: only an EarlyStopping whose metric is a name (e.g. 'loss', "
                    "'average_rank', 'top_20_accuracy') is supported."
                )
            selection = {"selection_metric": metric, "early_stopping_patience": getattr(early_stopping, "patience", 0)}
        if use_amp is not None and precision is None:
            precision = "auto" if use_amp else "fp32"  # Haystack's switch: mixed precision where the GPU has it
            if use_amp and self.device.type != "cuda":
                warnings.warn("use_amp=True has no effect on the CPU: training in float32.", stacklevel=2)
        config = self._config(
            config=config,
            data_dir=data_dir,
            train_filename=train_filename,
            dev_filename=dev_filename,
            test_filename=test_filename,
            max_samples=max_samples,
            dev_split=dev_split,
            batch_size=batch_size,
            embed_title=embed_title,
            num_hard_negatives=num_hard_negatives,
            num_positives=num_positives,
            n_epochs=n_epochs,
            evaluate_every=evaluate_every,
            learning_rate=learning_rate,
            epsilon=epsilon,
            weight_decay=weight_decay,
            num_warmup_steps=num_warmup_steps,
            grad_acc_steps=grad_acc_steps,
            precision=precision,
            seed=seed,
            grad_cache_chunk_size=grad_cache_chunk_size,
            checkpoint_dir=checkpoint_root_dir,
            checkpoint_every=checkpoint_every,
            checkpoints_to_keep=checkpoints_to_keep,
            eval_corpus=eval_corpus,
            **selection,
        )
        if save_dir is not _UNSET:
            config = config.replace(save_dir=None if save_dir is None else str(save_dir))
        if checkpoint_every is not None and config.checkpoint_dir is None:
            config = config.replace(checkpoint_dir="model_checkpoints")  # Haystack's default checkpoint_root_dir
        trained = train_model(
            config,
            self.model,
            callbacks=callbacks,
            resume=resume,
            restart=restart,
            progress_bar=self.progress_bar,
            query_encoder_dir=query_encoder_save_dir,
            passage_encoder_dir=passage_encoder_save_dir,
        )
        self.history, self.train_config = trained.history, config
        self.max_seq_len_query, self.max_seq_len_passage = config.max_seq_len_query, config.max_seq_len_passage
        self.embed_title, self.similarity_function = config.embed_title, trained.similarity_function
        self.device = trained.device
        self.reports, self.corpus_results = trained.reports, trained.corpus_results
        return self.history

    # ----------------------------------------------------------------------------------------------------------
    # Saving and loading

    def save(
        self,
        save_dir: str | Path,
        query_encoder_dir: str = "query_encoder",
        passage_encoder_dir: str = "passage_encoder",
    ) -> None:
        """Write the model atomically, in the one saved-model folder (dpr_nb.training.saved_model), with its card."""
        save_model_folder(
            save_dir,
            self,
            self.train_config,
            self.history,
            self.reports,
            self.corpus_results,
            query_encoder_dir,
            passage_encoder_dir,
        )

    def push_to_hub(
        self, repo_id: str, *, private: bool | None = None, token: str | None = None, commit_message: str | None = None
    ) -> str:
        """Publish this model on the Hugging Face Hub as `repo_id` ("you/dpr-nq"): saved, as `save` saves it, into
        a temporary folder that huggingface_hub uploads (dpr_nb.training.publish). Returns the commit's URL;
        `DensePassageRetriever.load(repo_id)` reads it back anywhere."""
        import tempfile

        from .training.publish import publish_folder

        with tempfile.TemporaryDirectory() as work:
            self.save(Path(work) / "model")
            options = {"commit_message": commit_message} if commit_message else {}
            return publish_folder(Path(work) / "model", repo_id, private=private, token=token, **options)

    @classmethod
    def load(
        cls,
        load_dir: str | Path,
        document_store=None,
        max_seq_len_query: int | None = None,
        max_seq_len_passage: int | None = None,
        use_gpu: bool = True,
        batch_size: int = 16,
        embed_title: bool | None = None,
        use_fast_tokenizers: bool = True,
        similarity_function: str | None = None,
        query_encoder_dir: str | None = None,
        passage_encoder_dir: str | None = None,
        **kwargs,
    ) -> DensePassageRetriever:
        """Reload a saved retriever, from a folder or by the Hub name it was published as; arguments left out take
        the values it was saved with."""
        saved = read_model_folder(load_dir, query_encoder_dir, passage_encoder_dir)
        model, settings = saved.model, saved.settings
        pick = lambda given, key, default: given if given is not None else settings.get(key, default)  # noqa: E731
        retriever = cls(
            document_store=document_store,
            model=model,
            max_seq_len_query=pick(max_seq_len_query, "max_seq_len_query", 64),
            max_seq_len_passage=pick(max_seq_len_passage, "max_seq_len_passage", 256),
            use_gpu=use_gpu,
            batch_size=batch_size,
            embed_title=pick(embed_title, "embed_title", True),
            use_fast_tokenizers=use_fast_tokenizers,
            similarity_function=pick(similarity_function, "similarity_function", None),
            **kwargs,
        )
        retriever.history, retriever.train_config = saved.history, saved.train_config
        return retriever
