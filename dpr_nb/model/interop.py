"""Export to other tools: a trained retriever as two sentence-transformers models.

(Reading Haystack v1 folders is dpr_nb.model.haystack_folders, below the encoders that use it.)

`export_sentence_transformers` turns a trained retriever into two sentence-transformers models, one for
questions and one for passages, which load without dpr_nb: in sentence-transformers and the tools built on it.

    >>> import tempfile
    >>> from dpr_nb.model.encoders import BiEncoder, tiny_encoder
    >>> model = BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2))
    >>> out = export_sentence_transformers(model, tempfile.mkdtemp() + "/exported", max_seq_len_passage=128)
    >>> sorted(p.name for p in out.iterdir())
    ['passage', 'query']
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..core.files import recover_folder, replace_folder, temporary_folder
from ..core.old_names import renamed_keywords
from .embedding import TextEmbedder
from .encoders import BiEncoder, Encoder
from .st_format import save_plain_transformer, write_modules

# ---------------------------------------------------------------------------------------------------------------
# sentence-transformers folders


@renamed_keywords
def write_sentence_transformers_model(
    encoder: Encoder, directory: str | Path, max_seq_length: int, similarity_function: str = "dot_product"
) -> None:
    """Write one `Encoder` as a complete sentence-transformers model folder (not atomic; see the export below).

    The folder's root holds the transformer in its own format (config.json, model.safetensors, tokenizer files:
    AutoModel loads it), then Pooling (and Normalize) as dpr_nb.model.st_format writes them: the classic layout, which
    sentence-transformers 3.0 and later read.
    """
    directory = Path(directory)
    directory.mkdir(parents=True)
    save_plain_transformer(encoder.model, directory)
    encoder.tokenizer.save_pretrained(directory)
    write_modules(
        directory, encoder.model, encoder.dim, encoder.pooling, encoder.normalize, max_seq_length, similarity_function
    )


def export_sentence_transformers(
    model: TextEmbedder | BiEncoder,
    out_dir: str | Path,
    max_seq_len_query: int | None = None,
    max_seq_len_passage: int | None = None,
) -> Path:
    """Write `out_dir/query/` and `out_dir/passage/`, two sentence-transformers models; returns `out_dir`.

    Lengths and similarity default to the retriever's own (for a bare BiEncoder: 64, 256 and what the checkpoint
    was trained with). The write is atomic: a temporary folder replaces `out_dir` once complete. An existing
    `out_dir` is replaced only when empty or an earlier export, never another folder.

    Passages: a sentence-transformers model encodes one string, while the retriever embeds a passage as the pair
    "[CLS] title [SEP] text [SEP]" (with embed_title, the default). Pass f"{title} [SEP] {text}" to get the same
    vector: the tokenizer reads the literal "[SEP]" as the separator token, so the ids are those of the pair (for
    BERT tokenizers; the vectors can differ only when the passage is truncated, which the pair does on its longer
    part and a single string at its end). With embed_title=False pass the text alone.

        >>> from sentence_transformers import SentenceTransformer                    # doctest: +SKIP
        >>> export_sentence_transformers(retriever, "exported")                    # doctest: +SKIP
        >>> questions = SentenceTransformer("exported/query")                      # doctest: +SKIP
        >>> passages = SentenceTransformer("exported/passage")                     # doctest: +SKIP
        >>> q = questions.encode(["who founded velmora?"])                         # doctest: +SKIP
        >>> p = passages.encode([f"{doc.meta['name']} [SEP] {doc.content}" for doc in docs])  # doctest: +SKIP
        >>> scores = questions.similarity(q, p)   # dot product, or cosine if the model normalises  # doctest: +SKIP
    """
    if isinstance(model, TextEmbedder):  # a DensePassageRetriever, with the lengths and similarity it embeds with
        bi_encoder, similarity_function = model.model, model.similarity_function
        max_seq_len_query = max_seq_len_query or model.max_seq_len_query
        max_seq_len_passage = max_seq_len_passage or model.max_seq_len_passage
    elif isinstance(model, BiEncoder):
        bi_encoder, similarity_function = model, model.similarity_function
        max_seq_len_query, max_seq_len_passage = max_seq_len_query or 64, max_seq_len_passage or 256
    else:
        raise TypeError(f"Expected a DensePassageRetriever or a BiEncoder, got {type(model).__name__}.")

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "query" / "modules.json").is_file():
        raise FileExistsError(
            f"{out_dir} exists and is not an earlier export (no query/modules.json): choose a new "
            "folder, or remove this one yourself."
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(out_dir)
    temporary = temporary_folder(out_dir)
    try:
        write_sentence_transformers_model(
            bi_encoder.query_encoder, temporary / "query", max_seq_len_query, similarity_function
        )
        write_sentence_transformers_model(
            bi_encoder.passage_encoder, temporary / "passage", max_seq_len_passage, similarity_function
        )
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)  # leave no half-written export behind
        raise
    replace_folder(temporary, out_dir)  # an earlier export stays whole until the new one is complete
    return out_dir
