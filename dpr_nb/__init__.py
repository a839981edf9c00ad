"""dpr_nb: train your own Dense Passage Retrieval models, in notebooks and for real.

The package in folders, one part each; a module imports from its own folder and the folders above it in this list,
never from one below (tests/test_architecture.py checks it; docs/architecture.md draws it):

- core/         errors, safe writes to disk, TrainConfig: what every part uses
- data/         DPR files read and checked, batches, passages TSV, records on disk, splits, words, Document
- model/        encoders and their formats, texts to vectors (TextEmbedder), the loss, gradient caching, export
- evaluation/   the in-batch report, corpus metrics and BM25, inspection, plots: on a model, no trainer needed
- training/     train_model (the one way a training runs), the loop, checkpoints, torchrun, the saved-model
                folder and its card, the run store and sweeps
- search/       document stores, FAISS indexes, corpus encoding
- tools/        downloads, SQuAD conversion, hard-negative mining, stats and subsets
- retriever.py  DensePassageRetriever, Haystack v1's interface over all of the above
- notebook/     what the course's notebooks share, and the widgets
- cli/          the dpr-nb command

Each folder's __init__ lists its modules. Old module names (dpr_nb.trainer, ...) still import, with a warning:
dpr_nb/core/old_names.py holds every old name and the release that removes it.
"""

from __future__ import annotations

import importlib

from .core import old_names as _old_names

__version__ = "0.3.0"

# What `from dpr_nb import X` finds, by module. Each is imported on first use (PEP 562), so `import dpr_nb`, the
# data tools and `dpr-nb --help` start without loading torch and transformers (seconds and hundreds of MB of RAM:
# docs/benchmarks.md, "Data tools").
_EXPORTS = {
    "core.config": ("BUILTIN_DATA", "PRESETS", "TINY_MODEL", "TrainConfig"),
    "core.errors": ("DPRNBError", "SettingsError", "TrainingDivergedError", "TrainingMemoryError"),
    "data.dpr_file": ("DPRDataError", "DPRExample", "Passage", "load_dpr_file", "read_dpr_file"),
    "data.documents": ("Document",),
    "data.records_on_disk": ("DPRFileOnDisk",),
    "model.encoders": ("BiEncoder", "Encoder"),
    "model.interop": ("export_sentence_transformers", "export_single_sentence_transformer"),
    "model.loss": ("in_batch_negatives_loss",),
    "evaluation.report": ("format_report", "ranking_report"),
    "training.train": ("TrainedModel", "train_model"),
    "training.trainer": ("History", "Trainer"),
    "search.document_store": ("InMemoryDocumentStore",),
    "search.faiss_store": ("FAISSDocumentStore",),
    "tools.download": ("fetch_archive_from_http",),
    "retriever": ("DensePassageRetriever",),
}
__all__ = [name for names in _EXPORTS.values() for name in names]

_old_names.install()  # dpr_nb.trainer and the other names from before 0.3 still import, with a warning


def __getattr__(name: str):
    for module, names in _EXPORTS.items():
        if name in names:
            value = getattr(importlib.import_module(f".{module}", __name__), name)
            globals()[name] = value  # found once, then an ordinary attribute
            return value
    return _old_names.renamed_attribute(__name__, name)  # EMBEDDED_DATA and IndexedDPRFile, with a warning


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
