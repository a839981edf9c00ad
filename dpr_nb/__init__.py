"""dpr_nb: train your own Dense Passage Retrieval models, in notebooks and for real.

Which file does what (each one idea):
- config.py          TrainConfig, the one dataclass of training choices, and its presets
- embedded_data.py   a small DPR dataset the package generates itself (no downloads)
- data.py            read (streaming) and validate DPR files; sample and tokenise batches
- indexed.py         a DPR file indexed on disk once, read by position (flat memory for NQ's 7.4 GB)
- splits.py          a run's train / dev / test questions (a held-out dev split, max_samples, on disk or not)
- passages.py        DPR's passages TSV, read and written as DPR does (csv quoting)
- matching.py        words, not vectors: DPR's has_answer, tokens for BM25
- files.py           atomic writes and folder swaps, writability checks, the save_dir lock
- data_tools.py      `dpr-nb data stats` and `dpr-nb data subset`
- haystack_folders.py  Haystack v1 retriever folders, read (by encoders.py)
- st_format.py       sentence-transformers' files beside a saved encoder
- encoders.py        query and passage encoders (CLS or declared pooling), loading and saving
- embedding.py       TextEmbedder: questions and passages to vectors, for every tool that embeds
- loss.py            the in-batch negatives loss
- report.py          Haystack v1's evaluation report, and what it measures
- corpus_eval.py     retrieval from a whole corpus: top-k accuracy, MRR@k, recall@k, and BM25
- plots.py           matplotlib figures of training, reports, ranks, top-k curves, one batch's similarities
- inspection.py      one question's top passages, the worst questions, two models side by side
- model_card.py      the README.md written next to every saved model
- widgets.py         ConfigPanel (edits a TrainConfig) and TrainingDashboard (live progress, metrics, curves)
- trainer.py         the training loop (gradient caching, mixed precision), its history and callbacks
- checkpoints.py     atomic checkpoints and exact resume
- distributed.py     torchrun: embeddings gathered across processes, gradients summed
- interop.py         export: sentence-transformers folders out
- document_store.py  Document and InMemoryDocumentStore
- corpus_encoding.py a passages TSV of any size encoded to disk: sharded, resumable, under torchrun
- faiss_store.py     FAISSDocumentStore: the same interface over a flat, HNSW or IVF-PQ index (faiss is optional)
- retriever.py       DensePassageRetriever, Haystack v1's interface
- download.py        fetch_archive_from_http, resumable downloads
- cli.py             the `dpr-nb` command
"""

from .config import EMBEDDED_DATA, PRESETS, TINY_MODEL, TrainConfig
from .data import DPRDataError, DPRExample, Passage, load_dpr_file, read_dpr_file
from .document_store import Document, InMemoryDocumentStore
from .download import fetch_archive_from_http
from .encoders import BiEncoder, Encoder
from .faiss_store import FAISSDocumentStore  # imports faiss only when a store is created: `import dpr_nb` needs none
from .indexed import IndexedDPRFile
from .interop import export_sentence_transformers
from .loss import in_batch_negatives_loss
from .report import format_report, ranking_report
from .retriever import DensePassageRetriever
from .trainer import History, Trainer, TrainingDivergedError, TrainingMemoryError

__version__ = "0.1.0"

__all__ = [
    "EMBEDDED_DATA",
    "PRESETS",
    "TINY_MODEL",
    "TrainConfig",
    "DPRDataError",
    "DPRExample",
    "Passage",
    "load_dpr_file",
    "read_dpr_file",
    "Document",
    "InMemoryDocumentStore",
    "fetch_archive_from_http",
    "BiEncoder",
    "Encoder",
    "in_batch_negatives_loss",
    "format_report",
    "ranking_report",
    "DensePassageRetriever",
    "History",
    "Trainer",
    "TrainingMemoryError",
    "TrainingDivergedError",
    "IndexedDPRFile",
    "export_sentence_transformers",
    "FAISSDocumentStore",
]
