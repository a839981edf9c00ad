"""Export to other tools: a trained retriever as sentence-transformers models, two or one.

(Reading Haystack v1 folders is dpr_nb.model.haystack_folders, below the encoders that use it.)

`export_sentence_transformers` turns a trained retriever into two sentence-transformers models, one for
questions and one for passages, which load without dpr_nb: in sentence-transformers and the tools built on it.
`export_single_sentence_transformer` writes one model holding both, whose `encode_query` and `encode_document` give
the retriever's vectors (sentence-transformers 5's Router).

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

    def write(folder: Path) -> None:
        write_sentence_transformers_model(
            bi_encoder.query_encoder, folder / "query", max_seq_len_query, similarity_function
        )
        write_sentence_transformers_model(
            bi_encoder.passage_encoder, folder / "passage", max_seq_len_passage, similarity_function
        )

    earlier = lambda folder: (folder / "query" / "modules.json").is_file()  # noqa: E731
    return _replace_export(Path(out_dir), earlier, "no query/modules.json", write)


def _check_export_folder(out_dir: Path, is_earlier_export, missing: str) -> None:
    if out_dir.exists() and any(out_dir.iterdir()) and not is_earlier_export(out_dir):
        raise FileExistsError(
            f"{out_dir} exists and is not an earlier export ({missing}): choose a new folder, or remove this one "
            "yourself."
        )


def _replace_export(out_dir: Path, is_earlier_export, missing: str, write) -> Path:
    """Run `write(folder)` on a temporary folder beside `out_dir`, then swap it in: an earlier export stays whole
    until the new one is complete. An existing `out_dir` is replaced only when empty or an earlier export (by
    `is_earlier_export(out_dir)`), never another folder; `missing` says what it lacks."""
    _check_export_folder(out_dir, is_earlier_export, missing)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(out_dir)
    temporary = temporary_folder(out_dir)
    try:
        write(temporary)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)  # leave no half-written export behind
        raise
    replace_folder(temporary, out_dir)
    return out_dir


def export_single_sentence_transformer(
    model: TextEmbedder | BiEncoder,
    out_dir: str | Path,
    max_seq_len_query: int | None = None,
    max_seq_len_passage: int | None = None,
) -> Path:
    """Write `out_dir` as ONE sentence-transformers model holding both encoders; returns `out_dir`.

    sentence-transformers' own `Router` sends `encode_query` to the query encoder and `encode_document` to the
    passage encoder, each with its pooling, normalisation and length, so one `SentenceTransformer(out_dir)` gives the
    retriever's vectors (passages as f"{title} [SEP] {text}", as export_sentence_transformers says). Built from that
    export's two models, by the library itself; needs sentence-transformers 5 or later. A shared encoder is written
    once per route (two copies of its weights), as the Router keeps a model per route.

        >>> from sentence_transformers import SentenceTransformer                    # doctest: +SKIP
        >>> export_single_sentence_transformer(retriever, "exported-one")                 # doctest: +SKIP
        >>> model = SentenceTransformer("exported-one")                            # doctest: +SKIP
        >>> questions = model.encode_query(["who founded velmora?"])                # doctest: +SKIP
        >>> passages = model.encode_document(["Velmora [SEP] Velmora was founded in 1423."])  # doctest: +SKIP
        >>> scores = model.similarity(questions, passages)                       # doctest: +SKIP
    """
    try:
        from sentence_transformers import SentenceTransformer

        try:
            from sentence_transformers.sentence_transformer.modules import Router  # 6 and later
        except ImportError:
            from sentence_transformers.models import Router  # 5
    except ImportError as error:
        from ..core.errors import MissingDependencyError

        raise MissingDependencyError(
            "One sentence-transformers model with both encoders needs sentence-transformers 5 or later (its Router): "
            'pip install -U "sentence-transformers>=5"'
        ) from error
    import tempfile

    def earlier(folder: Path) -> bool:
        return (folder / "modules.json").is_file() and "Router" in (folder / "modules.json").read_text()

    _check_export_folder(Path(out_dir), earlier, "no Router in its modules.json")  # before any work
    with tempfile.TemporaryDirectory() as work:
        two = export_sentence_transformers(model, Path(work) / "two", max_seq_len_query, max_seq_len_passage)
        query, passage = (SentenceTransformer(str(two / role), device="cpu") for role in ("query", "passage"))
        router = Router.for_query_document(query_modules=list(query), document_modules=list(passage))
        # The two models' similarity is one: dot product, or cosine where the encoders normalise.
        one = SentenceTransformer(modules=[router], similarity_fn_name=query.similarity_fn_name, device="cpu")
        return _replace_export(Path(out_dir), earlier, "no Router in its modules.json", lambda f: one.save(str(f)))
