"""dpr_nb: train your own Dense Passage Retrieval models, in notebooks and for real.

Which file does what (each one idea), in four layers; a module imports only from its own layer and those below:
The engine:
- files.py            atomic writes and folder swaps, writability checks, the save_dir lock
- config.py           TrainConfig, the one dataclass of training choices (each field's help in its metadata), presets
- data.py             read (streaming) and validate DPR files; sample and tokenise batches
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
- squad.py            SQuAD/XQuAD files as DPR files with BM25 hard negatives (`dpr-nb data convert-squad`)
- mining.py           hard negatives mined with a trained model (`dpr-nb data mine`)
- data_tools.py       `dpr-nb data stats` and `dpr-nb data subset`
- download.py         fetch_archive_from_http, resumable downloads

Faces:
- retriever.py        DensePassageRetriever, Haystack v1's interface
- interop.py          export: sentence-transformers folders out
- course.py           what the notebooks share: the small or real mode, checks that assert or print ✓/✗
- widgets.py          ConfigPanel (edits a TrainConfig) and TrainingDashboard (live progress, metrics, curves)
- cli.py              the `dpr-nb` command
"""

from .config import BUILTIN_DATA, EMBEDDED_DATA, PRESETS, TINY_MODEL, TrainConfig
from .data import DPRDataError, DPRExample, Passage, load_dpr_file, read_dpr_file
from .document_store import Document, InMemoryDocumentStore
from .download import fetch_archive_from_http
from .encoders import BiEncoder, Encoder
from .faiss_store import FAISSDocumentStore  # imports faiss only when a store is created: `import dpr_nb` needs none
from .interop import export_sentence_transformers
from .loss import in_batch_negatives_loss
from .records_on_disk import DPRFileOnDisk, IndexedDPRFile
from .report import format_report, ranking_report
from .retriever import DensePassageRetriever
from .trainer import History, Trainer, TrainingDivergedError, TrainingMemoryError

__version__ = "0.2.0"

__all__ = [
    "BUILTIN_DATA",
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
    "DPRFileOnDisk",
    "IndexedDPRFile",
    "export_sentence_transformers",
    "FAISSDocumentStore",
]
