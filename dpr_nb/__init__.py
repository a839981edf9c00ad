"""dpr_nb: train your own Dense Passage Retrieval models, in notebooks and for real.

Which file does what (each one idea), in four layers; a module imports only from its own layer and those below:
The engine:
- errors.py           DPRNBError, the base of every error a run can end with (the command line prints it in one line)
- files.py            atomic writes and folder swaps, writability checks, the save_dir lock
- config.py           TrainConfig, the one dataclass of training choices (each field's help in its metadata), presets
- data.py             read (streaming) and validate DPR files; sample questions into batches (no torch)
- batches.py          a batch as tensors: tokenised questions and passages, which passage answers which question
- passages.py         DPR's passages TSV, read and written as DPR does (csv quoting)
- records_on_disk.py  a DPR file's records copied to disk once, read by position (flat memory for NQ)
- builtin_data.py     a small DPR dataset the package generates itself (no downloads)
- matching.py         words, not vectors: DPR's has_answer, tokens for BM25, shared content words
- document_store.py   Document and InMemoryDocumentStore
- st_format.py        sentence-transformers' files beside a saved encoder
- haystack_folders.py Haystack v1 retriever folders, read (by encoders.py)
- encoders.py         query and passage encoders (CLS or declared pooling), loading and saving
- embedding.py        TextEmbedder: questions and passages to vectors, for every tool that embeds
- loss.py             the in-batch negatives loss
- grad_cache.py       gradient caching: a large batch's exact gradient in one chunk's memory
- report.py           Haystack v1's evaluation report, and what it measures
- corpus_eval.py      retrieval from a whole corpus: top-k accuracy, MRR@k, recall@k, and BM25
- distributed.py      torchrun: embeddings gathered across processes, gradients summed
- checkpoints.py      atomic checkpoints and exact resume

Training:
- splits.py           a run's train / dev / test questions (held-out dev split, max_samples, on disk or not)
- trainer.py          the training loop (accumulation, mixed precision), its history and callbacks

Tools:
- corpus_encoding.py  a passages TSV of any size encoded to disk: sharded, resumable, under torchrun
- faiss_store.py      FAISSDocumentStore: the same interface over a flat, HNSW or IVF-PQ index (faiss optional)
- inspection.py       one question's top passages, the worst questions, two models side by side
- plots.py            matplotlib figures of training, reports, ranks, top-k curves, one batch's similarities
- model_card.py       the README.md written next to every saved model
- train.py            train_model: the one way a training runs (check, build, train, evaluate, save once)
- saved_model.py      the one folder a trained model is saved as, written by one function and read by one
- squad.py            SQuAD/XQuAD files as DPR files with BM25 hard negatives (`dpr-nb data convert-squad`)
- mining.py           hard negatives mined with a trained model (`dpr-nb data mine`)
- data_tools.py       `dpr-nb data stats` and `dpr-nb data subset`
- download.py         fetch_archive_from_http, resumable downloads
- runs.py             the run store: every run's config, history, reports and cost in its folder; the comparison table
- sweeps.py           grid or random sweeps with seeds, resumable, their cost estimated before launch

Faces:
- retriever.py        DensePassageRetriever, Haystack v1's interface
- interop.py          export: sentence-transformers folders out
- course.py           what the notebooks share: the small or real mode, checks that assert or print ✓/✗
- widgets.py          ConfigPanel (edits a TrainConfig), TrainingDashboard (live progress, metrics, curves), SweepPanel
- cli.py              the `dpr-nb` command
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

# What `from dpr_nb import X` finds, by module. Each is imported on first use (PEP 562), so `import dpr_nb`, the
# data tools and `dpr-nb --help` start without loading torch and transformers (seconds and 350 MB of RAM).
_EXPORTS = {
    "config": ("BUILTIN_DATA", "EMBEDDED_DATA", "PRESETS", "TINY_MODEL", "TrainConfig"),
    "data": ("DPRDataError", "DPRExample", "Passage", "load_dpr_file", "read_dpr_file"),
    "document_store": ("Document", "InMemoryDocumentStore"),
    "download": ("fetch_archive_from_http",),
    "encoders": ("BiEncoder", "Encoder"),
    "faiss_store": ("FAISSDocumentStore",),
    "interop": ("export_sentence_transformers",),
    "loss": ("in_batch_negatives_loss",),
    "records_on_disk": ("DPRFileOnDisk", "IndexedDPRFile"),
    "report": ("format_report", "ranking_report"),
    "retriever": ("DensePassageRetriever",),
    "trainer": ("History", "Trainer"),
    "errors": ("DPRNBError", "SettingsError", "TrainingDivergedError", "TrainingMemoryError"),
}
__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str):
    for module, names in _EXPORTS.items():
        if name in names:
            value = getattr(importlib.import_module(f".{module}", __name__), name)
            globals()[name] = value  # found once, then an ordinary attribute
            return value
    raise AttributeError(f"module 'dpr_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
