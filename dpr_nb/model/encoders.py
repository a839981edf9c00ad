"""The bi-encoder: a query encoder and a passage encoder that turn text into vectors.

Each `Encoder` is a Hugging Face transformer plus the pooling its checkpoint was trained with:
- DPR and plain BERT checkpoints: the [CLS] vector, compared by dot product (as in the DPR paper);
- sentence-transformers checkpoints: what their `modules.json` and `1_Pooling/config.json` declare (for
  all-MiniLM-L6-v2: the mean of the token vectors, L2-normalised, compared by cosine).

Models come from a hub name or a local folder (including the encoder folders of a Haystack v1 retriever, see
dpr_nb.model.haystack_folders). Saving writes `query_encoder/` and `passage_encoder/` in the format of
`transformers.DPRQuestionEncoder` / `DPRContextEncoder` when the encoder is a [CLS]-pooled BERT (so other tools load
them as they are), in the transformer's own format otherwise; each folder is also a sentence-transformers model
with the same pooling and similarity, and holds `dpr_nb_encoder.json`, our note of the pooling.

    >>> from dpr_nb.model.encoders import BiEncoder
    >>> model = BiEncoder.from_pretrained("dpr-nb/tiny-bert", "dpr-nb/tiny-bert")
    >>> batch = model.query_encoder.tokenizer(["who founded velmora ?"], return_tensors="pt")
    >>> model.query_encoder(**batch).shape   # (batch, dim)
    torch.Size([1, 64])
"""

from __future__ import annotations

import copy
import json
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    BertConfig,
    BertModel,
    BertTokenizer,
    DPRConfig,
    DPRContextEncoder,
    DPRQuestionEncoder,
)
from transformers.utils import logging as transformers_logging

from ..core import old_names
from ..core.config import TINY_MODEL
from ..core.errors import SettingsError
from ..data.batches import length_groups, trim_padding
from ..data.builtin_data import builtin_vocabulary
from .haystack_folders import is_haystack_folder, load_haystack_language_model
from .st_format import SIMILARITY_NAMES, save_plain_transformer, write_modules

ENCODER_FILE = "dpr_nb_encoder.json"  # our note of how to pool, next to the weights
POOLINGS = ("cls", "mean")
SIMILARITIES = tuple(SIMILARITY_NAMES)
# sentence-transformers' similarity_fn_name -> ours ("dot_product" is its older spelling of "dot").
SIMILARITY_FN_NAMES = {**{theirs: ours for ours, theirs in SIMILARITY_NAMES.items()}, "dot_product": "dot_product"}


def attention_without_cudnn():
    """On a GPU, attention by flash or memory-efficient kernels, not cuDNN's.

    cuDNN's attention builds a plan for every new (batch, length) shape, and with dynamic padding nearly every batch
    is a new shape, so a first epoch spends its time building plans (measured by benchmarks/gpu_check.py:
    docs/benchmarks.md, "On a GPU"). Flash and memory-efficient attention need no plan.
    """
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # torch < 2.3, which has no cuDNN attention either
        return nullcontext()
    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


class Encoder(nn.Module):
    """A transformer, a tokenizer and a pooling: text in, one vector per text out."""

    @old_names.renamed_keywords
    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        pooling: str = "cls",
        normalize: bool = False,
        source: str = "",
        similarity_function: str | None = None,
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise SettingsError(f"pooling={pooling!r} is not supported; use one of {POOLINGS}")
        if similarity_function not in (None, *SIMILARITIES):
            raise SettingsError(
                f"similarity_function={similarity_function!r} is not supported; use one of {SIMILARITIES}"
            )
        self.model, self.tokenizer = model, tokenizer
        self.pooling, self.normalize, self.source = pooling, normalize, source
        self.declared_similarity = similarity_function

    @property
    def similarity(self) -> str:
        """How the checkpoint compares vectors: as it declares (sentence-transformers' similarity_fn_name), else
        cosine when it normalises them and the dot product when not (DPR, BERT)."""
        return self.declared_similarity or ("cosine" if self.normalize else "dot_product")

    def same_checkpoint(self, other: Encoder) -> bool:
        """Whether `other` holds the same checkpoint: the same transformer, pooling, vocabulary and weights, wherever
        each was loaded from (a hub name and a local copy of it are one checkpoint)."""
        if other is self:
            return True
        if (self.pooling, self.normalize, self.similarity) != (other.pooling, other.normalize, other.similarity):
            return False
        if type(self.model) is not type(other.model) or self.tokenizer.get_vocab() != other.tokenizer.get_vocab():
            return False
        mine, theirs = self.model.state_dict(), other.model.state_dict()
        return mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @property
    def max_length(self) -> int | None:
        """The most tokens the model takes: its position embeddings (RoBERTa's start after its padding index)."""
        config = self.model.config
        positions = getattr(config, "max_position_embeddings", None)
        if positions and ("roberta" in config.model_type or config.model_type == "camembert"):
            positions -= (config.pad_token_id or 0) + 1
        return positions

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        with attention_without_cudnn() if input_ids.is_cuda else nullcontext():
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state  # (batch, seq_len, dim)
        if self.pooling == "cls":
            pooled = hidden[:, 0]  # (batch, dim): the [CLS] position, DPR's choice
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch, seq_len, 1): ignore padding
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (batch, dim)
        return nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled

    def set_dropout(self, probability: float) -> None:
        """Every dropout layer of the transformer at `probability`, and its config (so a save records it)."""
        for module in self.model.modules():
            if isinstance(module, nn.Dropout):
                module.p = probability
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout"):
            if isinstance(getattr(self.model.config, name, None), float):
                setattr(self.model.config, name, probability)

    # ---------------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path, revision: str | None = None, token=None, seed: int = 0
    ) -> Encoder:
        """Load from a hub name, a local folder (ours, DPR's, BERT's, sentence-transformers', Haystack v1's) or
        TINY_MODEL."""
        name = str(name_or_path)
        if name == TINY_MODEL:
            return tiny_encoder(seed=seed)
        folder = Path(name)
        if folder.is_dir() and not (folder / "config.json").is_file():
            if is_haystack_folder(folder):
                # Haystack's DPR encoders: the [CLS] vector, dot product, unless a note of ours says otherwise.
                backbone, tokenizer = load_haystack_language_model(folder)
                pooling, normalize, similarity = declared_pooling(name)
                return cls(backbone, tokenizer, pooling, normalize, source=name, similarity_function=similarity)
            contents = sorted(p.name for p in folder.iterdir())[:10] or "nothing"
            raise OSError(
                f"{folder} holds no model dpr_nb can load: expected config.json (transformers, "
                "sentence-transformers or dpr_nb folders) or language_model_config.json with "
                f"language_model.bin (Haystack v1), found {contents}. Point to the folder that holds "
                "the model files."
            )
        hub = {"revision": revision, "token": token}
        try:
            config = AutoConfig.from_pretrained(name, **hub)
        except OSError as e:
            raise OSError(
                f"Cannot load the model {name!r}: it is neither a local folder with a config.json nor a "
                f"reachable Hugging Face hub model ({e}). Check the name, or download it first."
            ) from None
        if getattr(config, "is_encoder_decoder", False) or getattr(config, "vocab_size", None) is None:
            raise SettingsError(
                f"{name!r} is a {config.model_type} model, not a text encoder like BERT: dpr_nb embeds "
                "text with encoder-only transformers (BERT, RoBERTa, MiniLM, DPR, ...). Choose one."
            )
        tokenizer = AutoTokenizer.from_pretrained(name, **hub)
        if config.model_type == "dpr":
            # Facebook's DPR checkpoints (and ours): a BertModel inside a DPR wrapper. [CLS] pooled unless our note
            # says the model was trained with another pooling.
            model_class = (
                DPRContextEncoder if "DPRContextEncoder" in (config.architectures or []) else DPRQuestionEncoder
            )
            if getattr(config, "projection_dim", 0):
                raise SettingsError(
                    f"{name!r} has a projection layer (projection_dim={config.projection_dim}); "
                    "dpr_nb supports DPR checkpoints without one, as Facebook's."
                )
            wrapper = model_class.from_pretrained(name, dtype=torch.float32, **hub)
            inner = wrapper.ctx_encoder if model_class is DPRContextEncoder else wrapper.question_encoder
            backbone = inner.bert_model
        else:
            if config.model_type == "bert":
                # BERT's pooler layer is never used (we pool ourselves) and DPR's format has none. Leaving it out
                # makes transformers report the checkpoint's pooler weights as unexpected: expected here, so quiet.
                with _quiet_transformers():
                    backbone = AutoModel.from_pretrained(name, dtype=torch.float32, add_pooling_layer=False, **hub)
            else:
                backbone = AutoModel.from_pretrained(name, dtype=torch.float32, **hub)
        pooling, normalize, similarity = declared_pooling(name, **hub)
        return cls(backbone, tokenizer, pooling, normalize, source=name, similarity_function=similarity)

    @old_names.renamed_keywords
    def save(
        self,
        directory: str | Path,
        role: str,
        max_seq_length: int | None = None,
        similarity_function: str = "dot_product",
    ) -> None:
        """Write a folder that loads anywhere with this encoder's vectors.

        A [CLS]-pooled BERT is written in Facebook's DPR format: transformers loads it as DPRQuestionEncoder (role
        "query") or DPRContextEncoder, whose pooled output is the vector. Any other encoder (mean pooling, another
        architecture) is written in its transformer's own format. Either way the folder is also a
        sentence-transformers model (dpr_nb.model.st_format) with this pooling, normalisation, `max_seq_length` and
        similarity, and holds our note of the pooling for DensePassageRetriever.load.
        """
        directory = Path(directory)
        # A save never fails over a length: the model cannot take more tokens than it has positions anyway.
        max_seq_length = min(max_seq_length or 512, self.max_length or 512)
        dpr_format = isinstance(self.model, BertModel) and self.pooling == "cls"
        if dpr_format:
            # The BERT of a DPR checkpoint (the finetune preset's, or any model dpr_nb saved and loaded again)
            # carries a DPRConfig, projection_dim included: every DPR-only field is set here once.
            values = self.model.config.to_dict()
            for key in ("model_type", "architectures", "transformers_version", "_name_or_path", "projection_dim"):
                values.pop(key, None)
            dpr_config = DPRConfig(**values, projection_dim=0)
            model_class = DPRQuestionEncoder if role == "query" else DPRContextEncoder
            dpr_config.architectures = [model_class.__name__]
            # Build the wrapper without weights and put our BertModel inside it: nothing is copied.
            with torch.device("meta"):
                wrapper = model_class(dpr_config)
            inner = wrapper.question_encoder if role == "query" else wrapper.ctx_encoder
            inner.bert_model = self.model
            wrapper.save_pretrained(directory)
        else:
            save_plain_transformer(self.model, directory)
        self.tokenizer.save_pretrained(directory)
        write_modules(
            directory,
            self.model,
            self.dim,
            None if dpr_format else self.pooling,
            self.normalize,
            max_seq_length,
            similarity_function,
            dpr_role=role if dpr_format else None,
        )
        # "similarity" is the note's key on disk (declared_pooling reads it): a file's format, not a parameter.
        note = {"pooling": self.pooling, "normalize": self.normalize, "similarity": similarity_function}
        note["base_model"] = self.source
        (directory / ENCODER_FILE).write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")


@contextmanager
def _quiet_transformers():
    previous = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(previous)


_UNKNOWN = object()  # a file of a hub model that could not be fetched: neither there nor known to be absent
# The sentence-transformers modules an Encoder reproduces exactly; any other changes the vectors.
_REPRODUCIBLE_MODULES = ("Transformer", "Pooling", "Normalize")


def declared_pooling(name_or_path: str, revision: str | None = None, token=None) -> tuple[str, bool, str | None]:
    """(pooling, normalize, similarity) as the checkpoint declares them: our own note, sentence-transformers' files,
    or [CLS] and no similarity for DPR and BERT (None: the dot product, or cosine where vectors are normalised).

    A sentence-transformers model compares by cosine when its `config_sentence_transformers.json` says so
    (`similarity_fn_name`, with or without a Normalize module) or when it normalises its vectors (the dot product of
    unit vectors is their cosine), else by the dot product: a model that names none and does not normalise was
    trained before the setting existed, as msmarco-distilbert-base-tas-b was, for the dot product. A hub model whose
    files cannot be checked (offline, before its first download) gets [CLS] with a warning, not silently; a
    sentence-transformers model with a module dpr_nb cannot reproduce (a Dense layer, max pooling, ...) or a
    similarity it does not have is refused, since its scores would not be the model's own.
    """

    def read(filename: str):
        local = Path(name_or_path) / filename
        if Path(name_or_path).is_dir():
            return json.loads(local.read_text(encoding="utf-8")) if local.is_file() else None
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
        from huggingface_hub.errors import RemoteEntryNotFoundError

        cached = try_to_load_from_cache(name_or_path, filename, revision=revision)
        if isinstance(cached, str):
            return json.loads(Path(cached).read_text(encoding="utf-8"))
        if cached is not None:  # the cache knows the repository has no such file (a 404 recorded)
            return None
        try:  # a hub model: fetch the small JSON file if the repository has it
            return json.loads(
                Path(hf_hub_download(name_or_path, filename, revision=revision, token=token)).read_text(
                    encoding="utf-8"
                )
            )
        except RemoteEntryNotFoundError:  # the repository has no such file: it declares nothing
            return None
        except Exception:  # offline, or the hub unreachable: nobody knows
            return _UNKNOWN

    note = read(ENCODER_FILE)
    if note and note is not _UNKNOWN and "similarity" in note:  # our own note says it all (dpr_nb 0.3 on)
        return note["pooling"], bool(note["normalize"]), note["similarity"]
    modules = read("modules.json")
    if note and note is not _UNKNOWN and modules is _UNKNOWN:
        return note["pooling"], bool(note["normalize"]), None
    if modules is _UNKNOWN or note is _UNKNOWN:
        warnings.warn(
            f"{name_or_path}: could not fetch its pooling settings (modules.json; offline?), so it is "
            "pooled by [CLS] as DPR and BERT checkpoints are. If it is a sentence-transformers model, "
            "load it once online (or `dpr-nb fetch` it) so that its own pooling is used.",
            stacklevel=3,
        )
        return "cls", False, None
    named = None  # sentence-transformers' similarity_fn_name, where the checkpoint has one
    if modules:
        settings = read("config_sentence_transformers.json")
        if settings is _UNKNOWN:
            warnings.warn(
                f"{name_or_path}: could not fetch config_sentence_transformers.json (offline?), so its similarity "
                "is taken from whether it normalises its vectors. Load it once online to use its own.",
                stacklevel=3,
            )
        named = (settings if isinstance(settings, dict) else {}).get("similarity_fn_name")
        if named is not None and named not in SIMILARITY_FN_NAMES:
            raise SettingsError(
                f"{name_or_path}: its config_sentence_transformers.json compares vectors by "
                f"similarity_fn_name={named!r}, which dpr_nb does not have (only 'cosine' and 'dot'): its scores "
                "would not be the model's own. Choose a checkpoint trained with cosine or the dot product."
            )
    if note:
        normalize = bool(note["normalize"])
        return note["pooling"], normalize, _similarity(named, normalize) if modules else None
    if not modules:
        return "cls", False, None
    pooling, normalize = "cls", False
    for module in modules:
        kind = module.get("type", "").rsplit(".", 1)[-1]
        if kind not in _REPRODUCIBLE_MODULES:
            raise SettingsError(
                f"{name_or_path}: its sentence-transformers module {module.get('type')!r} (folder "
                f"{module.get('path')!r}) is not one dpr_nb can reproduce (only Transformer, Pooling "
                "and Normalize are): its vectors would not be the model's own. Choose a checkpoint "
                "without it."
            )
        if kind == "Pooling":
            modes = _pooling_modes(read(f"{module['path']}/config.json") or {})
            if modes not in (["cls"], ["mean"]):
                raise SettingsError(
                    f"{name_or_path}: its pooling {modes} is not one dpr_nb can reproduce (only "
                    "'cls' or 'mean'): its vectors would not be the model's own. Choose a checkpoint "
                    "that pools by [CLS] or by the mean of its tokens."
                )
            pooling = modes[0]
        elif kind == "Normalize":
            normalize = True
    return pooling, normalize, _similarity(named, normalize)


def _similarity(named: str | None, normalize: bool) -> str:
    """A sentence-transformers checkpoint's similarity: cosine where it names cosine or normalises, else the dot
    product (named "dot", or nothing by a model older than the setting)."""
    return "cosine" if normalize or (named and SIMILARITY_FN_NAMES[named] == "cosine") else "dot_product"


def _pooling_modes(settings: dict) -> list[str]:
    """The pooling modes of a sentence-transformers Pooling config, old style or new."""
    if "pooling_mode" in settings:  # sentence-transformers >= 6: "mean", "cls", ... or a list of them
        mode = settings["pooling_mode"]
        return [mode] if isinstance(mode, str) else list(mode)
    # Older versions: one flag per mode ("pooling_mode_mean_tokens": true, ...).
    flags = {
        "pooling_mode_cls_token": "cls",
        "pooling_mode_max_tokens": "max",
        "pooling_mode_mean_tokens": "mean",
        "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
        "pooling_mode_weightedmean_tokens": "weightedmean",
        "pooling_mode_lasttoken": "lasttoken",
    }
    # No flag set means mean pooling, as sentence-transformers reads it.
    return [mode for key, mode in flags.items() if settings.get(key)] or ["mean"]


def tiny_encoder(seed: int = 0, hidden_size: int = 64, num_layers: int = 2, pooling: str = "mean") -> Encoder:
    """A small randomly initialised BERT whose word-level vocabulary covers the built-in dataset.

    It pools by mean, not [CLS]: in a random network the [CLS] vector carries no summary of the text yet, and
    learning one took more than 800 steps without progress on the built-in data, while the mean of the token
    vectors starts as a bag of words that training sharpens within a minute. Pretrained DPR/BERT models keep [CLS].
    """
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(specials + [w for w in builtin_vocabulary() if w not in specials])}
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        intermediate_size=4 * hidden_size,
        max_position_embeddings=512,
        pad_token_id=0,
    )
    with torch.random.fork_rng():  # a seeded init that leaves the caller's random state alone
        torch.manual_seed(seed)
        # 512 positions like BERT's, so the default lengths (64/256) are valid. The weights are those of the
        # 128-position model this once was (its first 128 position rows included), so every result recorded
        # with it, on texts of up to 128 tokens, still holds.
        first = BertModel(BertConfig(**{**config.to_dict(), "max_position_embeddings": 128}), add_pooling_layer=False)
        model = BertModel(config, add_pooling_layer=False)
        weights = first.state_dict()
        positions = model.embeddings.position_embeddings.weight.detach().clone()
        positions[:128] = weights["embeddings.position_embeddings.weight"]
        model.load_state_dict({**weights, "embeddings.position_embeddings.weight": positions})
    return Encoder(model, tokenizer, pooling, False, source=TINY_MODEL)


class BiEncoder(nn.Module):
    """A query encoder and a passage encoder: two modules with their own weights, as in DPR, or one module in both
    roles (`shares_encoders`), as sentence-transformers and Tevatron train: half the weights, gradients and optimizer
    state, and on a small dataset no second copy to drift.

    Which of the two a model is, is decided once: when it is built from checkpoints (`from_pretrained`) or loaded
    from a saved folder, from what it is. Evaluating, embedding or saving never changes it; a run changes it only
    when its TrainConfig says so (`share_encoders=True` or `False`).
    """

    def __init__(self, query_encoder: Encoder, passage_encoder: Encoder):
        super().__init__()
        if query_encoder.dim != passage_encoder.dim:
            raise SettingsError(
                f"The query encoder gives {query_encoder.dim}-dimensional vectors and the passage "
                f"encoder {passage_encoder.dim}: their dot product is undefined. Use two models of "
                "the same size."
            )
        self.query_encoder, self.passage_encoder = query_encoder, passage_encoder

    @classmethod
    def from_pretrained(cls, query_model: str, passage_model: str, **kwargs) -> BiEncoder:
        """Both roles' checkpoints. One encoder in both roles when both are one checkpoint trained as one encoder (a
        sentence-transformers model that compares by cosine), whether named by a hub name or a local copy; DPR's two
        otherwise (DPR, BERT, the tiny model; two copies when both roles name one such checkpoint)."""
        query = Encoder.from_pretrained(query_model, **kwargs)
        same_name = str(passage_model) == str(query_model)
        passage = query if same_name else Encoder.from_pretrained(passage_model, **kwargs)
        if query.same_checkpoint(passage):
            if query.similarity == "cosine":
                return cls(query, query)
            passage = copy.deepcopy(query) if same_name else passage
        return cls(query, passage)

    @property
    def shares_encoders(self) -> bool:
        return self.query_encoder is self.passage_encoder

    @property
    def trained_as_one_encoder(self) -> bool:
        """Before 0.3: whether a run would train the model as one encoder. A model is now one encoder or two from
        the moment it is built or loaded: read `shares_encoders`."""
        warnings.warn(
            "BiEncoder.trained_as_one_encoder is now shares_encoders: whether the model is one encoder is decided "
            "when it is built or loaded. This name goes in a later release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.shares_encoders

    def share_encoders(self) -> None:
        """One encoder for questions and passages from now on: the query encoder, which both started as."""
        if self.shares_encoders:
            return
        same_start = self.query_encoder.source == self.passage_encoder.source
        if not (same_start or self.query_encoder.same_checkpoint(self.passage_encoder)):
            raise SettingsError(
                f"share_encoders=True trains one encoder for questions and passages, so both must start "
                f"from the same model; the query encoder is {self.query_encoder.source!r} and the "
                f"passage encoder {self.passage_encoder.source!r}. Load the same model twice (e.g. "
                f"query_model=passage_model) or set share_encoders=False."
            )
        # The same module under both names: parameters() lists each weight once, so the optimizer, gradient
        # clipping and torchrun's all-reduce see one model; the state dict (checkpoints) names it twice.
        self.passage_encoder = self.query_encoder

    def separate_encoders(self) -> None:
        """Two encoders from now on (DPR's way), both starting as the one they were: a shared model trained on."""
        if self.shares_encoders:
            self.passage_encoder = copy.deepcopy(self.query_encoder)

    def check_lengths(self, max_seq_len_query: int, max_seq_len_passage: int) -> None:
        """Refuse a length the model has no positions for: found now, not as a tensor-size error mid-training."""
        for setting, length, encoder in (
            ("max_seq_len_query", max_seq_len_query, self.query_encoder),
            ("max_seq_len_passage", max_seq_len_passage, self.passage_encoder),
        ):
            if encoder.max_length and length > encoder.max_length:
                raise SettingsError(
                    f"{setting}={length} is longer than the {encoder.max_length} tokens "
                    f"{encoder.source or 'the model'} has positions for: set {setting} to at most "
                    f"{encoder.max_length}."
                )

    @property
    def similarity_function(self) -> str:
        """How the query encoder's checkpoint compares vectors (Encoder.similarity): cosine for a
        sentence-transformers checkpoint that says so or normalises, the dot product for DPR and BERT."""
        return self.query_encoder.similarity

    default_similarity = old_names.renamed_property(f"{__name__}.BiEncoder", "default_similarity")

    def forward(self, query: dict, passage: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(questions, dim), (passages, dim). Passages go through in one to four groups of consecutive rows, each
        without the padding all its rows share: when they come longest first (collate's longest_first), most of a
        batch's padding is never computed."""
        passages = torch.cat([self.passage_encoder(**group) for group in length_groups(passage)])
        return self.query_encoder(**trim_padding(query)), passages

    def save(self, directory: str | Path) -> None:
        """The two encoder folders alone, without the lengths, title setting and similarity the model was trained
        with. Save with `dpr_nb.training.saved_model.save_model_folder` or DensePassageRetriever.save, which write
        them."""
        warnings.warn(
            "BiEncoder.save writes the encoders without the settings they were trained with, so the folder loads "
            "with the defaults: use dpr_nb.training.saved_model.save_model_folder or DensePassageRetriever.save. "
            "BiEncoder.save goes in a later release.",
            DeprecationWarning,
            stacklevel=2,
        )
        self.query_encoder.save(
            Path(directory) / "query_encoder", role="query", similarity_function=self.similarity_function
        )
        self.passage_encoder.save(
            Path(directory) / "passage_encoder", role="passage", similarity_function=self.similarity_function
        )
