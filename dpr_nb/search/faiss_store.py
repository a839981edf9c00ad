"""A document store backed by a FAISS index: InMemoryDocumentStore's interface, for corpora of millions of passages.

InMemoryDocumentStore compares a question with every passage's float32 vector: exact, and fine for a few hundred
thousand passages. DPR's Wikipedia has 21 million (64 GB of float32 vectors at 768 dimensions), so this store hands
the vectors to a FAISS index, which keeps them in one of three forms:

- "flat": every vector as it is, searched exhaustively by inner product. Exact (the same top-k as the in-memory
  store); memory 4 bytes x dim per passage (3 GB per million at 768); time grows with the corpus.
- "hnsw": the same vectors plus a graph linking each to its `hnsw_m` nearest; a search walks the graph. Approximate
  (recall@10 against exact search falls as the corpus grows; a larger `hnsw_ef_search` raises it), far faster to
  search than flat for a little more memory, and slow to build on a CPU.
- "ivfpq": vectors cut into `ivf_nlist` clusters (a search visits the `ivf_nprobe` nearest) and compressed by product
  quantisation to `pq_m` bytes each (192 at 768 dimensions: 16 times smaller; Wikipedia in about 4 GB). Approximate
  (recall@10 lower still), for corpora whose vectors do not fit in memory; trained on a sample.

Each index's build time, memory, speed and recall on a million vectors: docs/scale.md, `benchmarks/faiss_indexes.py`.

The similarity is the inner product. For a retriever that compares by cosine, vectors are normalised first (as
dpr_nb.evaluation.corpus_eval.embed_for_ranking does), which makes the inner product the cosine. Documents are kept in
memory while the store is built with `write_documents` and `update_embeddings`; a saved store reads them from disk by
position, so 21 million passages need not be in memory to return ten of them.

    index_dir/
        index.faiss            faiss.write_index of the index
        documents.jsonl        one document a line: {"id", "content", "meta"}, in index order
        document_offsets.npy   int64 (documents + 1,): where each line starts, and the file's end
        store_config.json      the index type and its settings, the similarity, counts, the passage encoder

faiss-cpu is an optional dependency: `pip install "dpr_nb[faiss]"`.

    >>> import numpy as np
    >>> from dpr_nb import Document
    >>> class TwoDimensions:  # a stand-in for DensePassageRetriever: fixed vectors, dot product
    ...     similarity_function = "dot_product"
    ...     def embed_documents(self, documents, batch_size=None):
    ...         return np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    >>> store = FAISSDocumentStore(index_type="flat")
    >>> store.write_documents([Document("Velmora", id="v"), Document("Dorvan", id="d"), Document("Osk", id="o")])
    >>> store.update_embeddings(TwoDimensions())
    >>> [(d.id, round(d.score, 2)) for d in store.query_by_embedding(np.array([0.0, 1.0]), top_k=2)]
    [('o', 1.0), ('d', 0.8)]
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..core.errors import MissingDependencyError, SettingsError
from ..core.files import replace_folder
from ..data.documents import Document, document_passage, passage_document
from ..evaluation.corpus_eval import DEFAULT_KS, gold_groups, hit_matrix, ranking_result
from .corpus_encoding import EncodedCorpus, model_fingerprint
from .document_store import DUPLICATE_POLICIES

INDEX_TYPES = ("flat", "hnsw", "ivfpq")
INSTALL_HINT = (
    'FAISSDocumentStore needs faiss: pip install "dpr_nb[faiss]" (or pip install faiss-cpu; faiss-gpu '
    "on a CUDA machine)"
)
INDEX_FILE, DOCUMENTS_FILE, OFFSETS_FILE, CONFIG_FILE = (
    "index.faiss",
    "documents.jsonl",
    "document_offsets.npy",
    "store_config.json",
)
MIN_POINTS_PER_CENTROID = 39  # below this many training vectors per centroid, faiss's k-means warns and degrades
CHUNK_ROWS = 65_536  # vectors converted to float32 and added at a time: 200 MB at 768 dimensions


def import_faiss():
    """faiss, or an ImportError that says how to install it."""
    try:
        import faiss
    except ImportError as error:
        raise MissingDependencyError(INSTALL_HINT) from error
    return faiss


def ivfpq_parameters(
    rows: int, dim: int, nlist: int | None = None, pq_m: int | None = None, pq_bits: int | None = None
) -> dict:
    """nlist, pq_m and pq_bits of an IVF-PQ index over `rows` vectors; None picks a value those rows can train.

    nlist: 4 x sqrt(rows) (faiss's guideline), at most rows / 39. pq_m: dim / 4 (4 dimensions per byte of code;
    dim / 8 halves the memory, for a lower recall).
    pq_bits: 8 (256 centroids per sub-vector), fewer when there are fewer than 39 x 256 vectors to train them.

    >>> ivfpq_parameters(21_000_000, 768)
    {'nlist': 18330, 'pq_m': 192, 'pq_bits': 8}
    >>> ivfpq_parameters(2845, 128)  # too few vectors for 256 centroids per sub-vector: 6 bits, 64 centroids
    {'nlist': 72, 'pq_m': 32, 'pq_bits': 6}
    """
    fix = "pass a smaller value, leave it None to have one chosen, or use index_type='flat' or 'hnsw'"
    if nlist is None:
        nlist = max(1, min(round(4 * math.sqrt(rows)), rows // MIN_POINTS_PER_CENTROID))
    elif not 1 <= nlist <= rows:
        raise SettingsError(
            f"ivf_nlist={nlist}: IVF training needs at least one vector per list and the corpus has {rows}; {fix}."
        )
    if pq_m is None:
        pq_m = max(m for m in range(1, max(1, dim // 4) + 1) if dim % m == 0)
    elif dim % pq_m:
        raise SettingsError(
            f"pq_m={pq_m}: product quantisation cuts each {dim}-dimensional vector into pq_m equal "
            f"parts, so pq_m must divide {dim}; {fix}."
        )
    if pq_bits is None:
        pq_bits = min(8, int(math.log2(max(2, rows // MIN_POINTS_PER_CENTROID))))
    if 2**pq_bits > rows:
        raise SettingsError(
            f"pq_bits={pq_bits}: training 2**{pq_bits} centroids per sub-vector needs at least that "
            f"many vectors and the corpus has {rows}; {fix}."
        )
    return {"nlist": int(nlist), "pq_m": int(pq_m), "pq_bits": int(pq_bits)}


class _DocumentsFile:
    """The documents of a saved store, read by position: line i of documents.jsonl starts at offsets[i]."""

    def __init__(self, folder: Path):
        self.path = folder / DOCUMENTS_FILE
        self.offsets = np.load(folder / OFFSETS_FILE, mmap_mode="r")  # (documents + 1,)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __iter__(self):
        with open(self.path, "rb") as f:
            for line in f:
                yield Document.from_dict(json.loads(line))

    def get_many(self, positions: Sequence[int]) -> list[Document]:
        with open(self.path, "rb") as f:
            found = []
            for position in positions:
                f.seek(int(self.offsets[position]))
                found.append(
                    Document.from_dict(
                        json.loads(f.read(int(self.offsets[position + 1]) - int(self.offsets[position])))
                    )
                )
            return found


def _write_documents(folder: Path, documents: Iterable[Document]) -> int:
    """documents.jsonl and the byte offset of every line; returns how many."""
    offsets, position = array("q", [0]), 0  # 8 bytes a document
    with open(folder / DOCUMENTS_FILE, "wb") as f:
        for document in documents:
            line = (
                json.dumps(
                    {"id": document.id, "content": document.content, "meta": document.meta}, ensure_ascii=False
                ).encode("utf-8")
                + b"\n"
            )
            f.write(line)
            position += len(line)
            offsets.append(position)
    np.save(folder / OFFSETS_FILE, np.frombuffer(offsets, dtype=np.int64))
    return len(offsets) - 1


def _as_float32(block: np.ndarray, similarity: str) -> np.ndarray:
    """Rows as FAISS takes them: contiguous float32, normalised when comparing by cosine."""
    block = np.ascontiguousarray(block, dtype=np.float32)
    if similarity == "cosine":
        block = block / np.linalg.norm(block, axis=1, keepdims=True).clip(1e-12)
    return block


class FAISSDocumentStore:
    """Documents and a FAISS index of their embeddings, with InMemoryDocumentStore's methods (see the module)."""

    def __init__(
        self,
        index_type: str = "flat",
        similarity: str | None = None,
        hnsw_m: int = 32,
        hnsw_ef_construction: int = 40,
        hnsw_ef_search: int = 128,
        ivf_nlist: int | None = None,
        ivf_nprobe: int = 32,
        pq_m: int | None = None,
        pq_bits: int | None = None,
        training_size: int | None = None,
        seed: int = 0,
    ):
        """`similarity` None: the retriever's (fixed for the index when update_embeddings builds it). HNSW: links
        per vector `hnsw_m`, candidate lists while building and searching `hnsw_ef_construction`, `hnsw_ef_search`
        (higher: better recall, slower). IVF-PQ: see ivfpq_parameters; `ivf_nprobe` lists visited per search;
        `training_size` vectors (default 50 per list, at least 65,536) drawn with `seed` train it."""
        self.faiss = import_faiss()
        if index_type not in INDEX_TYPES:
            raise SettingsError(f"index_type={index_type!r}; use one of {INDEX_TYPES}.")
        if similarity not in (None, "dot_product", "cosine"):
            raise SettingsError(f"similarity={similarity!r}; use 'dot_product', 'cosine' or None (the retriever's).")
        self.index_type, self.similarity = index_type, similarity
        self.settings = {
            "hnsw_m": hnsw_m,
            "hnsw_ef_construction": hnsw_ef_construction,
            "hnsw_ef_search": hnsw_ef_search,
            "ivf_nlist": ivf_nlist,
            "ivf_nprobe": ivf_nprobe,
            "pq_m": pq_m,
            "pq_bits": pq_bits,
            "training_size": training_size,
            "seed": seed,
        }
        self._documents: list[Document] | _DocumentsFile = []
        self._positions: dict[str, int] = {}  # document id -> position; built on demand for a saved store
        self.index = None
        self.index_similarity: str | None = None  # what the indexed vectors were prepared for
        self.ivfpq: dict | None = None  # the nlist, pq_m, pq_bits the index was built with
        self.passage_encoder: dict | None = None  # corpus_encoding.model_fingerprint of the encoder, when known
        self._stale = False  # a document of the index was overwritten: its vector is no longer its own

    # ----------------------------------------------------------------------------------------------------------
    # Documents

    def _documents_in_memory(self) -> list[Document]:
        if isinstance(self._documents, _DocumentsFile):  # a saved store being changed: read its documents once
            self._documents = list(self._documents)
            self._positions = {document.id: i for i, document in enumerate(self._documents)}
        return self._documents

    def write_documents(self, documents, duplicate_documents: str = "overwrite") -> None:
        if duplicate_documents not in DUPLICATE_POLICIES:
            raise SettingsError(f"duplicate_documents={duplicate_documents!r}; use one of {DUPLICATE_POLICIES}.")
        stored = self._documents_in_memory()
        documents = [d if isinstance(d, Document) else Document.from_dict(d) for d in documents]
        if duplicate_documents == "fail":  # refused whole, before any document is written
            ids = [d.id for d in documents]
            repeated = next((i for i in ids if i in self._positions), None) or next(
                (i for i, n in Counter(ids).items() if n > 1), None
            )
            if repeated is not None:
                raise SettingsError(
                    f"A document with id {repeated} is already in the store (or twice in this call); "
                    "nothing was written. Use duplicate_documents='skip' or 'overwrite'."
                )
        for document in documents:
            position = self._positions.get(document.id)
            if position is None:
                self._positions[document.id] = len(stored)
                stored.append(document)
            elif duplicate_documents == "overwrite":
                stored[position] = document
                self._stale |= self.index is not None and position < self.index.ntotal

    def get_all_documents(self) -> list[Document]:
        """Every document, in index order (for a saved store of millions, this reads them all into memory)."""
        return list(self._documents)

    def iter_documents(self):
        """Every document in index order, one at a time (streamed from disk for a saved store)."""
        return iter(self._documents)

    def get_document_count(self) -> int:
        return len(self._documents)

    def get_documents_by_position(self, positions: Sequence[int]) -> list[Document]:
        """The documents at these index positions (as `search` returns them)."""
        if isinstance(self._documents, _DocumentsFile):
            return self._documents.get_many(positions)
        return [self._documents[int(p)] for p in positions]

    def delete_documents(self) -> None:
        self._documents, self._positions, self.index, self._stale = [], {}, None, False

    # ----------------------------------------------------------------------------------------------------------
    # Building the index

    def update_embeddings(self, retriever, batch_size: int | None = None) -> None:
        """Embed every document with the retriever's passage encoder and build the index from scratch.

        All embeddings are held in memory once, as in InMemoryDocumentStore; for corpora larger than memory, encode
        to disk with dpr_nb.search.corpus_encoding and use `build_from_encoding` (or `dpr-nb index`)."""
        documents = self.get_all_documents()
        if not documents:
            self.index, self._stale = None, False
            return
        embeddings = retriever.embed_documents(documents, batch_size=batch_size)  # (documents, dim) float32
        self._build_index(embeddings, self.similarity or retriever.similarity_function)
        self.passage_encoder = model_fingerprint(retriever) if hasattr(retriever, "model") else None

    def _build_index(self, vectors: np.ndarray, similarity: str, progress_bar: bool = False) -> None:
        """The index over `vectors` (rows, dim), float32 or a float16 memmap, converted CHUNK_ROWS at a time."""
        faiss, settings = self.faiss, self.settings
        rows, dim = vectors.shape
        if self.index_type == "flat":
            index = faiss.IndexFlatIP(dim)
        elif self.index_type == "hnsw":
            index = faiss.IndexHNSWFlat(dim, settings["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = settings["hnsw_ef_construction"]
        else:
            self.ivfpq = ivfpq_parameters(rows, dim, settings["ivf_nlist"], settings["pq_m"], settings["pq_bits"])
            quantizer = faiss.IndexFlatIP(dim)  # finds the nearest lists of a vector or a query
            index = faiss.IndexIVFPQ(
                quantizer,
                dim,
                self.ivfpq["nlist"],
                self.ivfpq["pq_m"],
                self.ivfpq["pq_bits"],
                faiss.METRIC_INNER_PRODUCT,
            )
            size = settings["training_size"] or max(50 * self.ivfpq["nlist"], 65_536)
            # Sorted positions: a memmap reads the sample front to back instead of seeking at random.
            sample = np.sort(np.random.default_rng(settings["seed"]).choice(rows, min(size, rows), replace=False))
            index.train(_as_float32(vectors[sample], similarity))
        for start in tqdm(
            range(0, rows, CHUNK_ROWS),
            desc=f"adding to the {self.index_type} index",
            unit=" chunks",
            disable=not progress_bar,
        ):
            index.add(_as_float32(vectors[start : start + CHUNK_ROWS], similarity))
        self.index, self.index_similarity, self._stale = index, similarity, False
        self._apply_search_settings()

    def _apply_search_settings(self) -> None:
        if self.index_type == "hnsw":
            self.index.hnsw.efSearch = self.settings["hnsw_ef_search"]
        elif self.index_type == "ivfpq":
            self.index.nprobe = min(self.settings["ivf_nprobe"], self.index.nlist)

    @classmethod
    def build_from_encoding(
        cls, encoding_dir: str | Path, index_dir: str | Path, progress_bar: bool = True, **settings
    ) -> FAISSDocumentStore:
        """A saved store built from a finished corpus encoding (dpr_nb.search.corpus_encoding), at any size.

        The passages are streamed from the encoded TSV into index_dir's documents.jsonl and the embeddings are
        added from their memory-mapped file a chunk at a time: neither is ever whole in memory (the index itself
        is, which is what ivfpq makes small). `settings` are the constructor's. Written atomically to index_dir.
        """
        encoded = EncodedCorpus(encoding_dir)
        if not encoded.complete:
            raise SettingsError(
                f"{encoding_dir}: {encoded.rows_done():,} of {encoded.rows:,} passages are encoded. Run "
                "the encoding again to finish it (it resumes where it stopped), then build the index."
            )
        store, index_dir = cls(**settings), Path(index_dir)
        index_dir.parent.mkdir(parents=True, exist_ok=True)
        temporary = index_dir.with_name(f".{index_dir.name}.tmp-{os.getpid()}")
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        documents = map(passage_document, encoded.passages())
        written = _write_documents(temporary, documents)
        if written != encoded.rows:
            raise SettingsError(
                f"{encoded.manifest['corpus']} now has {written} passages where {encoding_dir} encoded "
                f"{encoded.rows}: the corpus changed since; encode it again into a new folder."
            )
        store._build_index(encoded.embeddings, store.similarity or encoded.similarity_function, progress_bar)
        store.passage_encoder = encoded.manifest["model"]
        store._write_index_and_config(temporary, written)
        replace_folder(temporary, index_dir)
        store._documents, store._positions = _DocumentsFile(index_dir), {}
        return store

    # ----------------------------------------------------------------------------------------------------------
    # Searching

    def search(
        self, query_embeddings: np.ndarray, top_k: int, similarity: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores (queries, k), positions (queries, k)): each query's top documents, best first, k = top_k or
        fewer when the store holds fewer. An approximate index may find fewer: the rest are position -1."""
        count = len(self._documents)
        embedded = 0 if self.index is None else self.index.ntotal
        if embedded != count:
            raise SettingsError(
                f"{count - embedded} documents have no embedding yet: call "
                "document_store.update_embeddings(retriever) after writing documents."
            )
        if self._stale:
            raise SettingsError(
                "Documents of the index were overwritten since it was built, and their vectors are those of their "
                "old text: call document_store.update_embeddings(retriever) to index the new text."
            )
        if count == 0:
            empty = np.zeros((len(np.atleast_2d(query_embeddings)), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        similarity = self.similarity or similarity or self.index_similarity
        if similarity != self.index_similarity:
            raise SettingsError(
                f"The index holds vectors for {self.index_similarity!r} similarity, and was queried by "
                f"{similarity!r}: call update_embeddings with a retriever of similarity_function="
                f"{similarity!r}, or create the store with similarity={self.index_similarity!r}."
            )
        queries = _as_float32(np.atleast_2d(query_embeddings), similarity)  # (queries, dim)
        return self.index.search(queries, min(top_k, count))

    def query_by_embedding(
        self, query_embedding: np.ndarray, top_k: int = 10, similarity: str | None = None, scale_score: bool = False
    ) -> list[Document]:
        """The top_k documents for one query embedding (dim,), best first, each a copy with its score (and, as
        FAISS holds the vectors, possibly compressed, without its embedding)."""
        if not len(self._documents):
            return []
        scores, positions = self.search(query_embedding, top_k, similarity)
        found = positions[0] >= 0
        similarity = self.similarity or similarity or self.index_similarity
        results = []
        for document, score in zip(self.get_documents_by_position(positions[0][found]), scores[0][found]):
            score = float(score)
            if scale_score:  # InMemoryDocumentStore's (Haystack's) mapping to [0, 1]
                score = (score + 1) / 2 if similarity == "cosine" else float(1 / (1 + np.exp(-score / 100)))
            results.append(Document(content=document.content, meta=dict(document.meta), id=document.id, score=score))
        return results

    # ----------------------------------------------------------------------------------------------------------
    # Saving and loading

    def _write_index_and_config(self, folder: Path, documents: int) -> None:
        if self.index is not None:
            self.faiss.write_index(self.index, str(folder / INDEX_FILE))
        config = {
            "format": 1,
            "index_type": self.index_type,
            "similarity": self.similarity,
            "settings": self.settings,
            "index_similarity": self.index_similarity,
            "ivfpq": self.ivfpq,
            "documents": documents,
            "embedded": 0 if self.index is None else int(self.index.ntotal),
            "stale": self._stale,
            "dim": None if self.index is None else int(self.index.d),
            "passage_encoder": self.passage_encoder,
            "faiss_version": self.faiss.__version__,
        }
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    def save(self, folder: str | Path) -> None:
        """Write the index, the documents and the settings to `folder`, atomically (a temporary folder, renamed)."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        temporary = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        written = _write_documents(temporary, self._documents)
        self._write_index_and_config(temporary, written)
        replace_folder(temporary, folder)
        if isinstance(self._documents, _DocumentsFile):  # its old file may just have been replaced
            self._documents = _DocumentsFile(folder)

    @classmethod
    def load(
        cls, folder: str | Path, hnsw_ef_search: int | None = None, ivf_nprobe: int | None = None
    ) -> FAISSDocumentStore:
        """A saved store; its documents stay on disk until asked for. The search settings can be changed here."""
        folder = Path(folder)
        if not (folder / CONFIG_FILE).is_file():
            raise FileNotFoundError(
                f"No saved FAISS store at {folder} ({CONFIG_FILE} is missing): build one with "
                "FAISSDocumentStore.save() or `dpr-nb index`."
            )
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        settings = dict(config["settings"])
        settings.update(
            {k: v for k, v in (("hnsw_ef_search", hnsw_ef_search), ("ivf_nprobe", ivf_nprobe)) if v is not None}
        )
        store = cls(index_type=config["index_type"], similarity=config["similarity"], **settings)
        store._documents, store._positions = _DocumentsFile(folder), {}
        store.index_similarity, store.ivfpq = config["index_similarity"], config["ivfpq"]
        store.passage_encoder, store._stale = config["passage_encoder"], config["stale"]
        if (folder / INDEX_FILE).is_file():
            store.index = store.faiss.read_index(str(folder / INDEX_FILE))
            store._apply_search_settings()
        return store

    def __repr__(self) -> str:
        embedded = 0 if self.index is None else self.index.ntotal
        return (
            f"FAISSDocumentStore({self.index_type!r}: {len(self._documents):,} documents, {embedded:,} "
            f"indexed, similarity {self.index_similarity or self.similarity})"
        )


def evaluate_index(
    retriever,
    examples,
    store: FAISSDocumentStore,
    ks: Sequence[int] | None = None,
    match: str = "id",
    batch_size: int | None = None,
    name: str = "dense",
):
    """evaluate_corpus's CorpusResult, with the ranking of a FAISS store instead of a full score matrix.

    The metrics (top-k accuracy, MRR@k, recall@k) are computed by the same functions from the top max(ks) that the
    index returns, so a flat index gives the in-memory numbers. The corpus is the store's documents, in index order.
    gold_ranks is the rank of the best gold passage *among those top max(ks)*; a gold passage ranked below them is
    given max(ks) (an index does not score every passage), and -1 still means the corpus lacks it.
    """
    ks = tuple(ks or DEFAULT_KS)
    if store.passage_encoder and hasattr(retriever, "model"):
        built, using = store.passage_encoder, model_fingerprint(retriever)
        if abs(built["weights_sum"] - using["weights_sum"]) > 1e-6 * max(1.0, abs(using["weights_sum"])):
            warnings.warn(
                f"The index was built with another passage encoder ({built['source']}) than this "
                f"retriever's ({using['source']}): its questions are compared with passages embedded by "
                "a different model. Build the index again with this model.",
                stacklevel=2,
            )
    query_embeddings = retriever.embed_queries([e.question for e in examples], batch_size=batch_size)  # (Q, dim)
    top_scores, top_indices = store.search(query_embeddings, max(ks), retriever.similarity_function)
    found = top_indices >= 0
    wanted = np.unique(top_indices[found])
    corpus = {int(p): document_passage(d) for p, d in zip(wanted, store.get_documents_by_position(wanted))}
    hits = np.zeros(top_indices.shape, dtype=bool)  # (questions, max k)
    if len(wanted):  # positions -1 (nothing found) stand in as a found passage, then count as no hit
        hits = hit_matrix(examples, corpus, np.where(found, top_indices, wanted[0]), match) & found
    groups = gold_groups(examples, map(document_passage, store.iter_documents()))  # where the gold passages are
    gold_ranks = np.full(len(examples), -1)
    for row, question_groups in enumerate(groups):
        if question_groups:
            ranked = np.flatnonzero(np.isin(top_indices[row], list(set().union(*question_groups))))
            gold_ranks[row] = ranked[0] if len(ranked) else top_indices.shape[1]
    return ranking_result(name, examples, groups, top_indices, top_scores, hits, gold_ranks, ks)
