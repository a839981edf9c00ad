"""An in-memory store of documents and their embeddings, with Haystack v1's interface (Document: dpr_nb.data.documents).

>>> from dpr_nb import Document, InMemoryDocumentStore
>>> store = InMemoryDocumentStore()
>>> store.write_documents([Document(content="Velmora lies on the river Osk.", meta={"name": "Velmora"})])
>>> store.get_document_count()
1
"""

from __future__ import annotations

import numpy as np

from ..core.errors import SettingsError
from ..data.documents import Document
from ..evaluation.corpus_eval import rank_top

DUPLICATE_POLICIES = ("overwrite", "skip", "fail")


class InMemoryDocumentStore:
    """Documents and their embeddings in a numpy matrix; exact search by dot product or cosine."""

    def __init__(self, similarity: str | None = None):
        # None: use the similarity of whichever retriever queries the store.
        self.similarity = similarity
        self.documents: dict[str, Document] = {}
        # The embeddings stacked into one matrix, built at the first query and kept until the documents or their
        # embeddings change: stacking a million vectors for every query would cost more than the search itself.
        self._version = 0
        self._matrix_cache: tuple | None = None  # ((version, similarity), documents, (num_documents, dim) matrix)

    def write_documents(self, documents, duplicate_documents: str = "overwrite") -> None:
        """Add documents; an id already in the store is overwritten, skipped, or ("fail") refuses the whole call,
        before any document is written."""
        if duplicate_documents not in DUPLICATE_POLICIES:
            raise SettingsError(f"duplicate_documents={duplicate_documents!r}; use one of {DUPLICATE_POLICIES}.")
        documents = [d if isinstance(d, Document) else Document.from_dict(d) for d in documents]
        if duplicate_documents == "fail":
            seen = set(self.documents)
            for document in documents:
                if document.id in seen:
                    raise SettingsError(
                        f"A document with id {document.id} is already in the store (or twice in this "
                        "call); nothing was written. Use duplicate_documents='skip' or 'overwrite'."
                    )
                seen.add(document.id)
        for document in documents:
            if document.id in self.documents and duplicate_documents == "skip":
                continue
            self.documents[document.id] = document
        self._version += 1

    def get_all_documents(self) -> list[Document]:
        return list(self.documents.values())

    def get_document_count(self) -> int:
        return len(self.documents)

    def delete_documents(self) -> None:
        self.documents.clear()
        self._version += 1

    def update_embeddings(self, retriever, batch_size: int | None = None) -> None:
        """Embed every document with the retriever's passage encoder."""
        documents = self.get_all_documents()
        if not documents:
            return
        embeddings = retriever.embed_documents(documents, batch_size=batch_size)  # (num_documents, dim)
        for document, embedding in zip(documents, embeddings):
            document.embedding = embedding
        self._version += 1

    def _documents_and_matrix(self, similarity: str) -> tuple[list[Document], np.ndarray]:
        key = (self._version, similarity)
        if self._matrix_cache is None or self._matrix_cache[0] != key:
            documents = [d for d in self.documents.values() if d.embedding is not None]
            if len(documents) < len(self.documents):
                raise SettingsError(
                    f"{len(self.documents) - len(documents)} documents have no embedding yet: call "
                    "document_store.update_embeddings(retriever) after writing documents."
                )
            dims = {np.shape(d.embedding) for d in documents}
            if len(dims) > 1:
                raise SettingsError(
                    f"The store's embeddings have different shapes {sorted(dims)}: they come from "
                    "different models. Call update_embeddings(retriever) with one retriever."
                )
            matrix = np.stack([d.embedding for d in documents]) if documents else np.zeros((0, 0))
            if similarity == "cosine" and documents:
                matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True).clip(1e-12)
            self._matrix_cache = (key, documents, matrix)
        return self._matrix_cache[1], self._matrix_cache[2]

    def query_by_embedding(
        self, query_embedding: np.ndarray, top_k: int = 10, similarity: str | None = None, scale_score: bool = False
    ) -> list[Document]:
        """The top_k documents for one query embedding (dim,), best first, each a copy with its score."""
        similarity = self.similarity or similarity or "dot_product"
        documents, matrix = self._documents_and_matrix(similarity)  # (num_documents, dim)
        if not documents:
            return []
        query = np.asarray(query_embedding, dtype=matrix.dtype)
        if query.shape != matrix.shape[1:]:
            raise SettingsError(
                f"The query embedding has shape {query.shape} and the store's embeddings "
                f"{matrix.shape[1:]}: they come from different models. Embed the documents with this "
                "retriever: document_store.update_embeddings(retriever)."
            )
        if similarity == "cosine":
            query = query / max(np.linalg.norm(query), 1e-12)
        scores = matrix @ query  # (num_documents,)
        top_k = min(top_k, len(documents))
        # Best score first, ties in the order of writing, also at the k-th place (rank_top: argpartition alone let
        # numpy's version choose which of the tied documents made the cut).
        best = rank_top(scores[None, :], top_k)[0]
        results = []
        for i in best:
            score = float(scores[i])
            if scale_score:  # Haystack's mapping to [0, 1]: it keeps the order, not the meaning of a gap
                score = (score + 1) / 2 if similarity == "cosine" else float(1 / (1 + np.exp(-score / 100)))
            d = documents[i]
            results.append(Document(content=d.content, meta=dict(d.meta), id=d.id, score=score, embedding=d.embedding))
        return results
