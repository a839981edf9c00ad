"""Texts to vectors: a BiEncoder with the lengths, title handling and similarity it embeds with.

`TextEmbedder` is the one place where questions and passages become embeddings. The retriever
(`DensePassageRetriever` builds on it), the trainer's full-corpus evaluations, mining, corpus encoding and the
document stores all call its `embed_queries` / `embed_documents`, so a model embeds the same way wherever it is
used. It sits below the trainer: training evaluates with it without importing the Haystack-shaped retriever.

    >>> from dpr_nb.model.encoders import BiEncoder, tiny_encoder
    >>> embedder = TextEmbedder(BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)), progress_bar=False)
    >>> embedder.embed_queries(["who founded velmora?", "where is dorvan?"]).shape   # (questions, dim)
    (2, 64)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..core.errors import SettingsError
from ..data.batches import tokenize_passages, tokenize_queries
from ..data.documents import Document
from .encoders import BiEncoder, Encoder


class TextEmbedder:
    def __init__(
        self,
        model: BiEncoder,
        max_seq_len_query: int = 64,
        max_seq_len_passage: int = 256,
        embed_title: bool = True,
        similarity_function: str | None = None,
        batch_size: int = 16,
        device: torch.device | str = "cpu",
        progress_bar: bool = True,
    ):
        """`similarity_function` None means what the checkpoint was trained with: dot product for DPR and BERT
        checkpoints, cosine for a sentence-transformers checkpoint that compares by cosine (dpr_nb.model.encoders)."""
        if similarity_function not in (None, "dot_product", "cosine"):
            raise SettingsError(f"similarity_function={similarity_function!r}; use 'dot_product' or 'cosine'.")
        model.check_lengths(max_seq_len_query, max_seq_len_passage)
        self.model = model
        self.max_seq_len_query, self.max_seq_len_passage = max_seq_len_query, max_seq_len_passage
        self.embed_title, self.batch_size, self.progress_bar = embed_title, batch_size, progress_bar
        self.similarity_function = similarity_function or model.similarity_function
        self.device = torch.device(device)

    # inference_mode, not no_grad: no graph, and no version counters or view tracking on the tensors either, as in
    # sentence-transformers' encode. Nothing made here is kept beyond the numpy copy, so training can go on after.
    @torch.inference_mode()
    def _embed(
        self, encoder: Encoder, tokenize, lengths: Sequence[int], batch_size: int | None, desc: str
    ) -> np.ndarray:
        """Embed texts batch by batch, longest first: `tokenize(rows)` gives the model inputs of those rows.

        Sorting by length (characters, a free proxy for tokens) puts texts of similar length in a batch, so padding
        wastes little (sentence-transformers' encode does the same), and the first batch, the largest, shows at once
        whether the batch size fits in memory. The rows come back in the caller's order.
        """
        self.model.eval()
        batch_size = batch_size or self.batch_size
        order = np.argsort([-n for n in lengths], kind="stable")  # (count,) longest first
        chunks = []
        starts = range(0, len(order), batch_size)
        for start in tqdm(starts, desc=desc, disable=not self.progress_bar or len(starts) < 2):
            inputs = {k: v.to(self.device) for k, v in tokenize(order[start : start + batch_size]).items()}
            chunks.append(encoder(**inputs).float().cpu())
        if not chunks:
            return np.zeros((0, encoder.dim), dtype=np.float32)
        embeddings = np.empty((len(order), encoder.dim), dtype=np.float32)  # (count, dim)
        embeddings[order] = torch.cat(chunks).numpy()
        return embeddings

    def embed_queries(self, queries: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """(len(queries), dim) query embeddings."""
        queries = list(queries)

        def tokenize(rows):
            return tokenize_queries(
                self.model.query_encoder.tokenizer, [queries[i] for i in rows], self.max_seq_len_query
            )

        return self._embed(
            self.model.query_encoder, tokenize, [len(q) for q in queries], batch_size, "embedding queries"
        )

    def embed_documents(self, documents: Sequence[Document], batch_size: int | None = None) -> np.ndarray:
        """(len(documents), dim) passage embeddings; with embed_title the title is meta["name"]."""
        titles = [str(d.meta.get("name") or "") for d in documents]
        texts = [d.content for d in documents]

        def tokenize(rows):
            return tokenize_passages(
                self.model.passage_encoder.tokenizer,
                [titles[i] for i in rows],
                [texts[i] for i in rows],
                self.max_seq_len_passage,
                self.embed_title,
            )

        lengths = [len(title) + len(text) if self.embed_title else len(text) for title, text in zip(titles, texts)]
        return self._embed(self.model.passage_encoder, tokenize, lengths, batch_size, "embedding passages")
