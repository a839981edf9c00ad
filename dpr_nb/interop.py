"""Other tools' model formats: read Haystack v1 retrievers, write sentence-transformers models.

Reading: `Encoder.from_pretrained` (and so `DensePassageRetriever.load`) recognises a folder written by Haystack
v1's `DensePassageRetriever.save()` and calls `load_haystack_language_model` on each of its two encoder folders.

Writing: `export_sentence_transformers` turns a trained retriever into two sentence-transformers models, one for
questions and one for passages, which load without dpr_nb: in sentence-transformers and the tools built on it.

    >>> import tempfile
    >>> from dpr_nb.encoders import BiEncoder, tiny_encoder
    >>> model = BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2))
    >>> out = export_sentence_transformers(model, tempfile.mkdtemp() + "/exported", max_seq_len_passage=128)
    >>> sorted(p.name for p in out.iterdir())
    ['passage', 'query']
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerBase

from .encoders import BiEncoder, Encoder
from .files import recover_folder, replace_folder, temporary_folder
from .retriever import DensePassageRetriever
from .st_format import NOT_BERT_SETTINGS, save_plain_transformer, write_modules

# ---------------------------------------------------------------------------------------------------------------
# Haystack v1 (farm-haystack) folders

HAYSTACK_CONFIG = "language_model_config.json"  # the HF config of the model, plus Haystack's "name" and "language"
HAYSTACK_WEIGHTS = "language_model.bin"  # torch.save(state_dict)

# Haystack's DPREncoder.save() writes transformers' DPRQuestionEncoder/DPRContextEncoder state dict as it is when
# the config is a DPRConfig ("question_encoder.bert_model.embeddings..."), and strips "<role>_encoder.bert_model."
# (and a "model." after it) when the config is a BertConfig, leaving BertModel's own keys ("embeddings...").
_HAYSTACK_KEY_PREFIX = re.compile(r"^(?:question|ctx)_encoder\.bert_model\.(?:model\.)?")


def is_haystack_folder(folder: str | Path) -> bool:
    """Whether `folder` holds a language model saved by Haystack v1 / FARM (language_model_config.json)."""
    return (Path(folder) / HAYSTACK_CONFIG).is_file()


def load_haystack_language_model(folder: str | Path) -> tuple[BertModel, PreTrainedTokenizerBase]:
    """(BertModel, tokenizer) from one encoder folder of a Haystack v1 DensePassageRetriever save.

    Haystack's DPR encoders pool [CLS] and compare by dot product, which is what `Encoder.from_pretrained` uses for
    these folders. A DPR projection layer (projection_dim > 0) is refused, as for transformers' DPR checkpoints.
    """
    folder = Path(folder)
    config_file, weights_file = folder / HAYSTACK_CONFIG, folder / HAYSTACK_WEIGHTS
    values = json.loads(config_file.read_text(encoding="utf-8"))
    model_type = values.get("model_type")
    if model_type not in ("dpr", "bert"):
        raise ValueError(f"{config_file}: model_type {model_type!r} is not supported; dpr_nb reads Haystack DPR "
                         "encoders built on BERT (model_type 'dpr' or 'bert'), as Haystack's DPR itself requires.")
    if values.get("projection_dim"):
        raise ValueError(f"{config_file} declares a projection layer (projection_dim={values['projection_dim']}); "
                         "dpr_nb supports DPR encoders without one.")
    if not weights_file.is_file():
        raise FileNotFoundError(f"{weights_file} is missing: a Haystack encoder folder holds {HAYSTACK_CONFIG} and "
                                f"{HAYSTACK_WEIGHTS} side by side. Copy the whole folder that Haystack saved.")
    # A DPRConfig holds BERT's settings under the same names, so one BertConfig describes both layouts.
    config = BertConfig(**{k: v for k, v in values.items() if k not in NOT_BERT_SETTINGS})
    config.architectures = ["BertModel"]

    # weights_only: a state dict is tensors only, and a pickle from elsewhere must not run code.
    saved = torch.load(weights_file, map_location="cpu", weights_only=True)
    state = {_HAYSTACK_KEY_PREFIX.sub("", key): tensor for key, tensor in saved.items()}
    model = BertModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tolerated: the pooler (unused: DPR pools the raw [CLS] vector; old transformers versions saved one inside
    # DPR's BERT) and the position_ids buffer that transformers < 4.31 wrote into every state dict.
    unexpected = [k for k in unexpected if not k.startswith("pooler.") and not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"{weights_file} does not match the BERT described by {config_file}: missing "
                         f"{_preview(missing)}, unexpected {_preview(unexpected)}. dpr_nb reads the key layouts of "
                         "Haystack v1's DPR encoders ('question_encoder.bert_model.…', 'ctx_encoder.bert_model.…' or "
                         "BertModel's own keys); check that the folder is one of those and was saved completely.")
    try:
        # `config` tells AutoTokenizer the model type when tokenizer_config.json names no tokenizer class.
        tokenizer = AutoTokenizer.from_pretrained(folder, config=config)
    except (OSError, ValueError) as e:
        raise OSError(f"{folder}: cannot load the tokenizer Haystack saved next to {HAYSTACK_WEIGHTS} ({e}). "
                      "Expected vocab.txt and tokenizer_config.json (or tokenizer.json).") from None
    return model.eval(), tokenizer


def _preview(keys: list[str], limit: int = 5) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


# ---------------------------------------------------------------------------------------------------------------
# sentence-transformers folders

def write_sentence_transformers_model(encoder: Encoder, directory: str | Path, max_seq_length: int,
                                      similarity: str = "dot_product") -> None:
    """Write one `Encoder` as a complete sentence-transformers model folder (not atomic; see the export below).

    The folder's root holds the transformer in its own format (config.json, model.safetensors, tokenizer files:
    AutoModel loads it), then Pooling (and Normalize) as dpr_nb.st_format writes them: the classic layout, which
    sentence-transformers 3.0 and later read.
    """
    directory = Path(directory)
    directory.mkdir(parents=True)
    save_plain_transformer(encoder.model, directory)
    encoder.tokenizer.save_pretrained(directory)
    write_modules(directory, encoder.model, encoder.dim, encoder.pooling, encoder.normalize, max_seq_length,
                  similarity)


def export_sentence_transformers(model: DensePassageRetriever | BiEncoder, out_dir: str | Path,
                                 max_seq_len_query: int | None = None,
                                 max_seq_len_passage: int | None = None) -> Path:
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
    if isinstance(model, DensePassageRetriever):
        bi_encoder, similarity = model.model, model.similarity_function
        max_seq_len_query = max_seq_len_query or model.max_seq_len_query
        max_seq_len_passage = max_seq_len_passage or model.max_seq_len_passage
    elif isinstance(model, BiEncoder):
        bi_encoder, similarity = model, model.default_similarity
        max_seq_len_query, max_seq_len_passage = max_seq_len_query or 64, max_seq_len_passage or 256
    else:
        raise TypeError(f"Expected a DensePassageRetriever or a BiEncoder, got {type(model).__name__}.")

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "query" / "modules.json").is_file():
        raise FileExistsError(f"{out_dir} exists and is not an earlier export (no query/modules.json): choose a new "
                              "folder, or remove this one yourself.")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(out_dir)
    temporary = temporary_folder(out_dir)
    try:
        write_sentence_transformers_model(bi_encoder.query_encoder, temporary / "query", max_seq_len_query,
                                          similarity)
        write_sentence_transformers_model(bi_encoder.passage_encoder, temporary / "passage", max_seq_len_passage,
                                          similarity)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)  # leave no half-written export behind
        raise
    replace_folder(temporary, out_dir)  # an earlier export stays whole until the new one is complete
    return out_dir
