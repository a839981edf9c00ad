"""sentence-transformers' files beside a saved transformer, so that `SentenceTransformer(folder)` gives our vectors.

A sentence-transformers model is a folder of modules run in order (`modules.json`): the Transformer (the folder's
own config.json and weights), then Pooling (`1_Pooling/config.json`: [CLS] or mean), then Normalize when vectors
are compared by cosine. `sentence_bert_config.json` holds the Transformer's settings (maximum length, and what
AutoModel is asked for); `config_sentence_transformers.json` the similarity.

Two layouts are written:
- a transformer saved in its own format (a BertModel, MiniLM, ...): Transformer -> Pooling (-> Normalize), the
  classic layout that sentence-transformers 3.0 and later read;
- a [CLS]-pooled BERT saved in Facebook's DPR format (DPRQuestionEncoder / DPRContextEncoder weights): the DPR
  class's own pooled output is the [CLS] vector, so the Transformer module hands that on as the sentence embedding
  (-> Normalize); no Pooling. This needs sentence-transformers 6, which reads a module's output from its settings.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import transformers
from transformers import BertConfig, BertModel

from ..core.errors import SettingsError
from ..core.old_names import renamed_keywords

# "3.0.0" is the oldest version that knows similarity_fn_name; a newer number would make older versions warn.
_FORMAT_VERSION = "3.0.0"
SIMILARITY_NAMES = {"dot_product": "dot", "cosine": "cosine"}  # ours -> sentence-transformers'
# Config entries that describe a wrapper (DPR's, Haystack's) or a run, not the BERT itself.
NOT_BERT_SETTINGS = (
    "model_type",
    "architectures",
    "transformers_version",
    "_name_or_path",
    "name",
    "language",
    "projection_dim",
    "return_dict",
    "output_hidden_states",
    "output_attentions",
)
# AutoModel builds a DPRQuestionEncoder for any DPR config; a passage encoder's weights are named ctx_encoder.*.
_CONTEXT_KEYS = {"^ctx_encoder\\.": "question_encoder."}


def save_plain_transformer(model, directory: Path) -> None:
    """The transformer's weights and config as AutoModel loads them; a BERT taken out of a DPR checkpoint keeps a
    DPRConfig, which AutoModel would turn back into a DPR wrapper with other weight names: it is saved as the
    plain BertModel it is."""
    model.save_pretrained(directory)
    if isinstance(model, BertModel) and model.config.model_type != "bert":
        values = {k: v for k, v in model.config.to_dict().items() if k not in NOT_BERT_SETTINGS}
        BertConfig(**values, architectures=["BertModel"]).save_pretrained(directory)


@renamed_keywords
def write_modules(
    directory: Path,
    model,
    dim: int,
    pooling: str | None,
    normalize: bool,
    max_seq_length: int,
    similarity_function: str = "dot_product",
    dpr_role: str | None = None,
) -> None:
    """modules.json and the modules' settings. `pooling` None with `dpr_role` ("query" or "passage"): the folder
    holds a DPR wrapper whose pooled output is the embedding."""
    if similarity_function not in SIMILARITY_NAMES:
        raise SettingsError(f"similarity_function={similarity_function!r}; use one of {tuple(SIMILARITY_NAMES)}")
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions and max_seq_length > positions:
        raise SettingsError(
            f"max_seq_length={max_seq_length} exceeds the {positions} positions of the model: use a "
            f"length of at most {positions}."
        )
    settings = {
        "max_seq_length": max_seq_length,
        # The tokenizer lowercases by itself when its model is uncased. With True, sentence-transformers < 6
        # lowercases the raw string first, which turns a literal "[SEP]" between title and text into "[sep]",
        # no longer the separator token.
        "do_lower_case": False,
    }
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]
    if pooling is None:
        settings.update(
            transformer_task="feature-extraction",
            module_output_name="sentence_embedding",
            modality_config={"text": {"method": "forward", "method_output_name": "pooler_output"}},
        )
        if dpr_role == "passage":
            settings["model_args"] = {"key_mapping": _CONTEXT_KEYS}
    else:
        if getattr(model, "pooler", "absent") is None:
            # Built without BERT's pooler layer (unused by mean or [CLS] pooling): ask AutoModel for none either,
            # or every load reports the pooler's weights as missing and initialises them at random.
            settings["model_args"] = {"add_pooling_layer": False}
        modules.append({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"})
        (directory / "1_Pooling").mkdir(exist_ok=True)
        _write_json(
            directory / "1_Pooling" / "config.json",
            {
                "word_embedding_dimension": dim,
                "pooling_mode_cls_token": pooling == "cls",
                "pooling_mode_mean_tokens": pooling == "mean",
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
            },
        )
    if normalize:
        modules.append(
            {
                "idx": len(modules),
                "name": str(len(modules)),
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
        (directory / "2_Normalize").mkdir(exist_ok=True)  # Normalize has no settings; sentence-transformers makes it
    _write_json(directory / "modules.json", modules)
    _write_json(directory / "sentence_bert_config.json", settings)
    _write_json(
        directory / "config_sentence_transformers.json",
        {
            "__version__": {
                "sentence_transformers": _FORMAT_VERSION,
                "transformers": transformers.__version__,
                "pytorch": torch.__version__,
            },
            "model_type": "SentenceTransformer",
            "prompts": {},
            "default_prompt_name": None,
            "similarity_fn_name": SIMILARITY_NAMES[similarity_function],
        },
    )


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
