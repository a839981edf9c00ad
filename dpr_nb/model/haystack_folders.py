"""Reading Haystack v1 (farm-haystack) retriever folders, so that `Encoder.from_pretrained` (and so
`DensePassageRetriever.load`) loads what Haystack v1's `DensePassageRetriever.save()` wrote.

Each encoder folder holds `language_model_config.json` (the HF config plus Haystack's "name" and "language"),
`language_model.bin` (a state dict) and the tokenizer files. This module sits below dpr_nb.model.encoders, which
calls it; writing other tools' formats is dpr_nb.model.interop's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerBase

from ..core.errors import SettingsError
from .st_format import NOT_BERT_SETTINGS

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
        raise SettingsError(
            f"{config_file}: model_type {model_type!r} is not supported; dpr_nb reads Haystack DPR "
            "encoders built on BERT (model_type 'dpr' or 'bert'), as Haystack's DPR itself requires."
        )
    if values.get("projection_dim"):
        raise SettingsError(
            f"{config_file} declares a projection layer (projection_dim={values['projection_dim']}); "
            "dpr_nb supports DPR encoders without one."
        )
    if not weights_file.is_file():
        raise FileNotFoundError(
            f"{weights_file} is missing: a Haystack encoder folder holds {HAYSTACK_CONFIG} and "
            f"{HAYSTACK_WEIGHTS} side by side. Copy the whole folder that Haystack saved."
        )
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
        raise SettingsError(
            f"{weights_file} does not match the BERT described by {config_file}: missing "
            f"{_preview(missing)}, unexpected {_preview(unexpected)}. dpr_nb reads the key layouts of "
            "Haystack v1's DPR encoders ('question_encoder.bert_model.…', 'ctx_encoder.bert_model.…' or "
            "BertModel's own keys); check that the folder is one of those and was saved completely."
        )
    try:
        # `config` tells AutoTokenizer the model type when tokenizer_config.json names no tokenizer class.
        tokenizer = AutoTokenizer.from_pretrained(folder, config=config)
    except (OSError, ValueError) as e:
        raise OSError(
            f"{folder}: cannot load the tokenizer Haystack saved next to {HAYSTACK_WEIGHTS} ({e}). "
            "Expected vocab.txt and tokenizer_config.json (or tokenizer.json)."
        ) from None
    return model.eval(), tokenizer


def _preview(keys: list[str], limit: int = 5) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more
