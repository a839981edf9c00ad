import json

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel, BertConfig, DPRConfig, DPRContextEncoder, DPRQuestionEncoder

from conftest import MINILM, need
from dpr_nb import DensePassageRetriever, Document
from dpr_nb.model.encoders import BiEncoder, Encoder, tiny_encoder
from dpr_nb.model.interop import export_sentence_transformers, export_single_sentence_transformer

QUESTIONS = ["in what year was velmora founded?", "who is the mayor of dorvan?"]
DOCUMENTS = [
    Document(content="velmora was founded in 1423.", meta={"name": "Velmora"}),
    Document(content="the mayor of dorvan is ana, elected in 1999.", meta={"name": "dorvan"}),
    Document(content="a passage without a title.", meta={}),
]


def tiny_retriever(pooling="cls", normalize=False, **kwargs) -> DensePassageRetriever:
    query_encoder, passage_encoder = tiny_encoder(seed=1, pooling=pooling), tiny_encoder(seed=2, pooling=pooling)
    query_encoder.normalize = passage_encoder.normalize = normalize
    settings = {"max_seq_len_query": 32, "max_seq_len_passage": 64, **kwargs}
    return DensePassageRetriever(
        model=BiEncoder(query_encoder, passage_encoder), use_gpu=False, progress_bar=False, **settings
    )


def as_single_strings(documents: list[Document]) -> list[str]:
    """How the export's docstring tells users to pass passages to a sentence-transformers model."""
    return [f"{d.meta.get('name') or ''} [SEP] {d.content}" for d in documents]


# ---------------------------------------------------------------------------------------------------------------
# Haystack v1 folders


def write_haystack_encoder(folder, wrapper, role: str, layout: str) -> None:
    """The files Haystack v1's DensePassageRetriever.save() writes for one encoder, with its key names.

    layout "dpr": the encoder started from a DPR checkpoint; Haystack saves the DPRConfig and the state dict of
    transformers' DPRQuestionEncoder/DPRContextEncoder as it is (here with the position_ids buffer that
    transformers < 4.31 saved). layout "bert": it started from a BERT; Haystack saves that BertConfig and strips
    "<role>_encoder.bert_model." from every key.
    """
    folder.mkdir(parents=True)
    state = wrapper.state_dict()
    class_name = type(wrapper).__name__
    prefix = "question_encoder.bert_model." if role == "query" else "ctx_encoder.bert_model."
    if layout == "dpr":
        state[prefix + "embeddings.position_ids"] = torch.arange(wrapper.config.max_position_embeddings)[None]
        config = wrapper.config.to_dict()
        config["architectures"] = [class_name]
    else:
        state = {key.removeprefix(prefix): tensor for key, tensor in state.items()}
        config = BertConfig(
            **{
                k: v
                for k, v in wrapper.config.to_dict().items()
                if k not in ("model_type", "architectures", "projection_dim")
            }
        ).to_dict()
    config.update(name=class_name, language="english")  # Haystack's additions
    torch.save(state, folder / "language_model.bin")
    (folder / "language_model_config.json").write_text(json.dumps(config))
    # The tokenizer files of a transformers 4 DPR tokenizer.
    vocab = tiny_encoder().tokenizer.get_vocab()
    (folder / "vocab.txt").write_text("\n".join(sorted(vocab, key=vocab.get)) + "\n")
    specials = {
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
    (folder / "special_tokens_map.json").write_text(json.dumps(specials))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {"do_lower_case": True, "model_max_length": 512, "tokenizer_class": f"{class_name}Tokenizer", **specials}
        )
    )


def tiny_dpr_pair() -> tuple[DPRQuestionEncoder, DPRContextEncoder]:
    values = tiny_encoder().model.config.to_dict()
    config = DPRConfig(
        **{k: v for k, v in values.items() if k not in ("model_type", "architectures")}, projection_dim=0
    )
    torch.manual_seed(3)
    return DPRQuestionEncoder(config).eval(), DPRContextEncoder(config).eval()


def write_haystack_save(save_dir, layout: str = "dpr") -> tuple[DPRQuestionEncoder, DPRContextEncoder]:
    question_encoder, context_encoder = tiny_dpr_pair()
    write_haystack_encoder(save_dir / "query_encoder", question_encoder, "query", layout)
    write_haystack_encoder(save_dir / "passage_encoder", context_encoder, "passage", layout)
    # Beside the encoders Haystack writes its (weightless) similarity head, which dpr_nb does not need.
    (save_dir / "prediction_head_0_config.json").write_text(json.dumps({"name": "TextSimilarityHead"}))
    return question_encoder, context_encoder


@pytest.mark.parametrize("layout", ["dpr", "bert"])
def test_haystack_v1_save_loads_with_the_embeddings_of_transformers_dpr(tmp_path, layout):
    question_encoder, context_encoder = write_haystack_save(tmp_path, layout)
    retriever = DensePassageRetriever.load(tmp_path, use_gpu=False, progress_bar=False)
    for encoder in (retriever.model.query_encoder, retriever.model.passage_encoder):
        assert (encoder.pooling, encoder.normalize) == ("cls", False)
    assert retriever.similarity_function == "dot_product"

    tokenizer = tiny_encoder().tokenizer
    with torch.no_grad():
        expected = question_encoder(**tokenizer(QUESTIONS, padding=True, return_tensors="pt")).pooler_output
    np.testing.assert_allclose(retriever.embed_queries(QUESTIONS), expected.numpy(), atol=1e-5)
    titles, texts = [d.meta.get("name") or "" for d in DOCUMENTS], [d.content for d in DOCUMENTS]
    inputs = tokenizer(titles, texts, padding=True, return_tensors="pt")
    inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])  # DPR: title and text are one segment
    with torch.no_grad():
        expected = context_encoder(**inputs).pooler_output
    np.testing.assert_allclose(retriever.embed_documents(DOCUMENTS), expected.numpy(), atol=1e-5)


def test_haystack_weights_that_do_not_match_name_the_file(tmp_path):
    write_haystack_save(tmp_path)
    weights = tmp_path / "query_encoder" / "language_model.bin"
    state = torch.load(weights, weights_only=True)
    state.pop("question_encoder.bert_model.encoder.layer.0.output.dense.weight")
    state["question_encoder.bert_model.something_else.weight"] = torch.zeros(1)
    torch.save(state, weights)
    with pytest.raises(
        ValueError,
        match=r"language_model\.bin does not match.*missing encoder\.layer\.0\.output"
        r"\.dense\.weight, unexpected something_else\.weight",
    ):
        Encoder.from_pretrained(tmp_path / "query_encoder")


def test_haystack_folder_without_its_weights_says_which_file_is_missing(tmp_path):
    write_haystack_save(tmp_path)
    (tmp_path / "passage_encoder" / "language_model.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"passage_encoder/language_model\.bin is missing"):
        DensePassageRetriever.load(tmp_path, use_gpu=False)


def test_folder_with_no_known_model_files_gives_a_clear_error(tmp_path):
    (tmp_path / "query_encoder").mkdir()
    (tmp_path / "query_encoder" / "notes.txt").write_text("not a model")
    (tmp_path / "passage_encoder").mkdir()
    with pytest.raises(OSError, match=r"holds no model dpr_nb can load.*language_model_config\.json.*notes\.txt"):
        DensePassageRetriever.load(tmp_path, use_gpu=False)


# ---------------------------------------------------------------------------------------------------------------
# sentence-transformers export


@pytest.mark.parametrize("pooling, normalize", [("cls", False), ("mean", True)])
def test_export_loads_in_sentence_transformers_with_the_same_embeddings(tmp_path, pooling, normalize):
    st = pytest.importorskip("sentence_transformers")
    retriever = tiny_retriever(pooling, normalize)
    out = export_sentence_transformers(retriever, tmp_path / "exported")

    query_model = st.SentenceTransformer(str(out / "query"), device="cpu")
    passage_model = st.SentenceTransformer(str(out / "passage"), device="cpu")
    assert query_model.similarity_fn_name == ("cosine" if normalize else "dot")
    assert query_model.max_seq_length == 32 and passage_model.max_seq_length == 64
    assert query_model[0].auto_model.pooler is None  # no randomly initialised pooler, no "missing weights" report
    np.testing.assert_allclose(query_model.encode(QUESTIONS), retriever.embed_queries(QUESTIONS), atol=1e-5)
    # Titled passages as "title [SEP] text", as the export's docstring says...
    np.testing.assert_allclose(
        passage_model.encode(as_single_strings(DOCUMENTS)), retriever.embed_documents(DOCUMENTS), atol=1e-5
    )
    # ...and the text alone for a retriever that does not embed titles.
    retriever.embed_title = False
    np.testing.assert_allclose(
        passage_model.encode([d.content for d in DOCUMENTS]), retriever.embed_documents(DOCUMENTS), atol=1e-5
    )


@pytest.mark.parametrize("pooling, normalize", [("cls", False), ("mean", True)])
@pytest.mark.parametrize("shared", [False, True])
def test_one_sentence_transformers_model_encodes_queries_and_documents_as_the_retriever(
    tmp_path, pooling, normalize, shared
):
    st = pytest.importorskip("sentence_transformers")
    if not hasattr(st.SentenceTransformer, "encode_query"):
        pytest.skip("one model for both encoders needs sentence-transformers 5 (its Router)")
    retriever = tiny_retriever(pooling, normalize, max_seq_len_passage=48)
    if shared:
        encoder = retriever.model.query_encoder
        retriever.model = BiEncoder(encoder, encoder)
        assert retriever.model.shares_encoders
    out = export_single_sentence_transformer(retriever, tmp_path / "one")
    model = st.SentenceTransformer(str(out), device="cpu")
    assert model.similarity_fn_name == ("cosine" if normalize else "dot")
    queries, documents = model.encode_query(QUESTIONS), model.encode_document(as_single_strings(DOCUMENTS))
    np.testing.assert_allclose(queries, retriever.embed_queries(QUESTIONS), atol=1e-5)
    np.testing.assert_allclose(documents, retriever.embed_documents(DOCUMENTS), atol=1e-5)
    np.testing.assert_allclose(
        model.similarity(queries, documents).numpy(), retriever.embed_queries(QUESTIONS) @ documents.T, atol=1e-5
    )
    if not shared:  # the routes are two encoders: a question encoded as a document is another vector
        assert not np.allclose(model.encode_document(QUESTIONS), queries, atol=1e-3)
    # each route keeps its own length: 32 tokens for questions, 48 for passages
    long_text = " ".join(["velmora"] * 100)
    assert np.allclose(model.encode_query([long_text]), retriever.embed_queries([long_text]), atol=1e-5)
    again = export_single_sentence_transformer(retriever, tmp_path / "one")  # an earlier export is replaced
    assert again == out and (out / "modules.json").is_file()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an earlier export"):
        export_single_sentence_transformer(retriever, tmp_path / "mine")


def test_export_writes_the_sentence_transformers_layout(tmp_path):
    out = export_sentence_transformers(tiny_retriever("mean", normalize=True), tmp_path / "exported")
    for role, length in (("query", 32), ("passage", 64)):
        folder = out / role
        modules = json.loads((folder / "modules.json").read_text())
        assert [(m["path"], m["type"].rsplit(".", 1)[1]) for m in modules] == [
            ("", "Transformer"),
            ("1_Pooling", "Pooling"),
            ("2_Normalize", "Normalize"),
        ]
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
        assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
        assert pooling["word_embedding_dimension"] == 64
        settings = json.loads((folder / "sentence_bert_config.json").read_text())
        assert settings["max_seq_length"] == length and settings["do_lower_case"] is False
        assert json.loads((folder / "config_sentence_transformers.json").read_text())["similarity_fn_name"] == "cosine"
        assert type(AutoModel.from_pretrained(folder)).__name__ == "BertModel"
    cls_out = export_sentence_transformers(tiny_retriever("cls"), tmp_path / "cls")
    modules = json.loads((cls_out / "query" / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["", "1_Pooling"]  # no Normalize for a dot-product model
    assert json.loads((cls_out / "query" / "1_Pooling" / "config.json").read_text())["pooling_mode_cls_token"]
    assert (
        json.loads((cls_out / "query" / "config_sentence_transformers.json").read_text())["similarity_fn_name"] == "dot"
    )


def test_literal_sep_in_one_string_gives_the_ids_of_the_title_text_pair():
    tokenizers = [tiny_encoder().tokenizer]
    if MINILM.exists():
        tokenizers.append(Encoder.from_pretrained(MINILM).tokenizer)
    titles, texts = [d.meta.get("name") or "" for d in DOCUMENTS], [d.content for d in DOCUMENTS]
    for tokenizer in tokenizers:
        pair = tokenizer(titles, texts)["input_ids"]
        single = tokenizer(as_single_strings(DOCUMENTS))["input_ids"]
        assert single == pair
        assert single[0].count(tokenizer.sep_token_id) == 2  # "[CLS] title [SEP] text [SEP]"


@pytest.mark.parametrize("pooling, normalize", [("cls", False), ("mean", True)])
def test_export_reloads_in_dpr_nb_with_the_same_pooling_and_embeddings(tmp_path, pooling, normalize):
    retriever = tiny_retriever(pooling, normalize)
    out = export_sentence_transformers(retriever, tmp_path / "exported")
    reloaded = DensePassageRetriever(
        model=BiEncoder(Encoder.from_pretrained(out / "query"), Encoder.from_pretrained(out / "passage")),
        max_seq_len_query=32,
        max_seq_len_passage=64,
        use_gpu=False,
        progress_bar=False,
    )
    for encoder in (reloaded.model.query_encoder, reloaded.model.passage_encoder):
        assert (encoder.pooling, encoder.normalize) == (pooling, normalize)
    assert reloaded.similarity_function == retriever.similarity_function
    np.testing.assert_allclose(reloaded.embed_queries(QUESTIONS), retriever.embed_queries(QUESTIONS), atol=1e-6)
    np.testing.assert_allclose(reloaded.embed_documents(DOCUMENTS), retriever.embed_documents(DOCUMENTS), atol=1e-6)


def test_export_of_a_dpr_checkpoint_describes_a_plain_bert(tmp_path):
    st = pytest.importorskip("sentence_transformers")
    tiny_retriever("cls").save(tmp_path / "dpr")  # DPR format: the BERT inside keeps a DPRConfig when reloaded
    retriever = DensePassageRetriever.load(tmp_path / "dpr", use_gpu=False, progress_bar=False)
    assert retriever.model.query_encoder.model.config.model_type == "dpr"
    out = export_sentence_transformers(retriever, tmp_path / "exported")
    assert AutoConfig.from_pretrained(out / "query").model_type == "bert"
    query_model = st.SentenceTransformer(str(out / "query"), device="cpu")
    np.testing.assert_allclose(query_model.encode(QUESTIONS), retriever.embed_queries(QUESTIONS), atol=1e-5)


def test_minilm_export_keeps_the_embeddings_of_the_original(tmp_path):
    path = need(MINILM)
    st = pytest.importorskip("sentence_transformers")
    encoder = Encoder.from_pretrained(path)
    assert (encoder.pooling, encoder.normalize) == ("mean", True)
    out = export_sentence_transformers(BiEncoder(encoder, encoder), tmp_path / "exported", max_seq_len_query=256)
    original = st.SentenceTransformer(str(path), device="cpu")
    exported = st.SentenceTransformer(str(out / "query"), device="cpu")
    texts = QUESTIONS + [d.content for d in DOCUMENTS]
    np.testing.assert_allclose(exported.encode(texts), original.encode(texts), atol=1e-5)
    assert exported.similarity_fn_name == "cosine" and exported.max_seq_length == 256


def test_export_replaces_an_earlier_export_but_never_another_folder(tmp_path):
    retriever = tiny_retriever()
    export_sentence_transformers(retriever, tmp_path / "exported")
    (tmp_path / "exported" / "stale.txt").write_text("from an earlier export")
    export_sentence_transformers(retriever, tmp_path / "exported")
    assert not (tmp_path / "exported" / "stale.txt").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not an earlier export"):
        export_sentence_transformers(retriever, tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.tex").exists()
    with pytest.raises(ValueError, match="exceeds the 512 positions"):
        export_sentence_transformers(retriever, tmp_path / "too-long", max_seq_len_passage=600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported", "mine"]  # no temporary folders left behind
