import json

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, DPRContextEncoder, DPRQuestionEncoder

from conftest import MINILM, need
from dpr_nb import DensePassageRetriever, Document
from dpr_nb.model.encoders import BiEncoder, Encoder, declared_pooling, tiny_encoder

QUESTIONS = ["in what year was velmora founded?", "who is the mayor of dorvan?"]
DOCUMENTS = [
    Document(content="velmora was founded in 1423.", meta={"name": "velmora"}),
    Document(content="the mayor of dorvan is ana.", meta={"name": "dorvan"}),
]


def tiny_retriever(pooling="mean", **kwargs):
    model = BiEncoder(tiny_encoder(seed=1, pooling=pooling), tiny_encoder(seed=2, pooling=pooling))
    return DensePassageRetriever(model=model, use_gpu=False, progress_bar=False, **kwargs)


def test_cls_pooling_takes_the_first_position_and_mean_ignores_padding():
    encoder = tiny_encoder(pooling="cls")
    inputs = encoder.tokenizer(QUESTIONS, padding=True, return_tensors="pt")
    encoder.eval()
    with torch.no_grad():
        hidden = encoder.model(**inputs).last_hidden_state
        assert torch.allclose(encoder(**inputs), hidden[:, 0])
        encoder.pooling = "mean"
        short = encoder.tokenizer(QUESTIONS[:1], return_tensors="pt")
        alone = encoder(**short)
        padded = encoder(**inputs)[:1]
    assert torch.allclose(alone, padded, atol=1e-5)  # padding does not change a mean-pooled vector


def test_save_then_load_gives_identical_embeddings(tmp_path):
    retriever = tiny_retriever(max_seq_len_query=16, max_seq_len_passage=32)
    retriever.save(tmp_path / "model")
    reloaded = DensePassageRetriever.load(tmp_path / "model", use_gpu=False, progress_bar=False)
    np.testing.assert_array_equal(retriever.embed_queries(QUESTIONS), reloaded.embed_queries(QUESTIONS))
    np.testing.assert_array_equal(retriever.embed_documents(DOCUMENTS), reloaded.embed_documents(DOCUMENTS))
    assert reloaded.max_seq_len_query == 16 and reloaded.max_seq_len_passage == 32
    assert retriever.embed_queries(QUESTIONS).shape == (2, 64)


def test_saved_folders_load_in_transformers_dpr_classes(tmp_path):
    retriever = tiny_retriever(pooling="cls")  # DPR's classes pool [CLS]
    retriever.save(tmp_path)
    question_encoder = DPRQuestionEncoder.from_pretrained(tmp_path / "query_encoder").eval()
    context_encoder = DPRContextEncoder.from_pretrained(tmp_path / "passage_encoder").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "query_encoder")
    with torch.no_grad():
        pooled = question_encoder(**tokenizer(QUESTIONS, padding=True, return_tensors="pt")).pooler_output
    np.testing.assert_allclose(pooled.numpy(), retriever.embed_queries(QUESTIONS), atol=1e-5)
    passage_tokenizer = AutoTokenizer.from_pretrained(tmp_path / "passage_encoder")
    inputs = passage_tokenizer(["velmora"], ["velmora was founded in 1423."], return_tensors="pt")
    inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
    with torch.no_grad():
        pooled = context_encoder(**inputs).pooler_output
    np.testing.assert_allclose(pooled.numpy(), retriever.embed_documents(DOCUMENTS[:1]), atol=1e-5)


def test_a_model_trained_as_one_encoder_loads_and_trains_on_as_one(tmp_path):
    """Saved shared, the two folders are two sources: without the note it would come back (and train on) as two."""
    from dpr_nb import TrainConfig
    from dpr_nb.training.trainer import Trainer

    retriever = DensePassageRetriever(model=BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=1)), use_gpu=False)
    retriever.model.share_encoders()  # as TrainConfig(share_encoders=True) does; the tiny model does not normalise
    retriever.save(tmp_path / "shared")
    assert (tmp_path / "shared" / "passage_encoder" / "config.json").is_file()

    reloaded = DensePassageRetriever.load(tmp_path / "shared", use_gpu=False, progress_bar=False)
    assert reloaded.model.passage_encoder is reloaded.model.query_encoder
    np.testing.assert_allclose(
        reloaded.embed_documents(DOCUMENTS), retriever.embed_documents(DOCUMENTS), rtol=1e-5, atol=1e-6
    )
    config = TrainConfig.preset("smoke")  # share_encoders=None: the model as it was loaded
    assert Trainer(reloaded.model, config, []).model.shares_encoders

    # share_encoders=False trains the two roles apart from here on, both starting from the shared weights.
    model = Trainer(reloaded.model, config.replace(share_encoders=False), []).model
    assert not model.shares_encoders
    for (name, query), passage in zip(model.query_encoder.named_parameters(), model.passage_encoder.parameters()):
        assert torch.equal(query, passage), name

    two = tiny_retriever()  # saved as two encoders: loads as two
    two.save(tmp_path / "two")
    assert not DensePassageRetriever.load(tmp_path / "two", use_gpu=False, progress_bar=False).model.shares_encoders


def test_save_is_atomic_and_replaces_an_older_save(tmp_path):
    retriever = tiny_retriever()
    retriever.save(tmp_path / "model")
    (tmp_path / "model" / "stale.txt").write_text("from an older save")
    retriever.save(tmp_path / "model")
    assert not (tmp_path / "model" / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary folders left behind


def test_sentence_transformers_checkpoint_keeps_its_declared_pooling(tmp_path):
    path = need(MINILM)
    assert declared_pooling(str(path)) == ("mean", True, "cosine")
    encoder = Encoder.from_pretrained(path)
    assert (encoder.pooling, encoder.normalize) == ("mean", True)
    retriever = DensePassageRetriever(
        query_embedding_model=str(path), passage_embedding_model=str(path), use_gpu=False, progress_bar=False
    )
    assert retriever.similarity_function == "cosine"
    assert retriever.model.shares_encoders  # built as one encoder: TrainConfig's default trains it as one
    embeddings = retriever.embed_queries(QUESTIONS)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    retriever.save(tmp_path)
    note = json.loads((tmp_path / "query_encoder" / "dpr_nb_encoder.json").read_text())
    assert note["pooling"] == "mean" and note["normalize"] is True
    reloaded = DensePassageRetriever.load(tmp_path, use_gpu=False, progress_bar=False)
    assert reloaded.similarity_function == "cosine"
    np.testing.assert_allclose(reloaded.embed_queries(QUESTIONS), embeddings, atol=1e-6)


def test_plain_bert_folder_defaults_to_cls(tmp_path):
    encoder = tiny_encoder(pooling="mean")
    encoder.model.save_pretrained(tmp_path)
    encoder.tokenizer.save_pretrained(tmp_path)
    assert declared_pooling(str(tmp_path)) == ("cls", False, None)
    assert Encoder.from_pretrained(tmp_path).pooling == "cls"
    # bert-base-uncased for both roles (the from_scratch preset): DPR's two encoders by default, not one shared
    assert not BiEncoder.from_pretrained(str(tmp_path), str(tmp_path)).shares_encoders


def test_unknown_model_gives_a_clear_error(tmp_path):
    with pytest.raises(OSError, match="neither a local folder"):
        Encoder.from_pretrained(tmp_path / "no-such-model")


def test_encoders_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match="same size"):
        BiEncoder(tiny_encoder(hidden_size=64), tiny_encoder(hidden_size=32))


def test_sentence_transformers_6_pooling_mode_is_read(tmp_path):
    # sentence-transformers >= 6 writes "pooling_mode": "mean" instead of one flag per mode.
    encoder = tiny_encoder()
    encoder.model.save_pretrained(tmp_path)
    encoder.tokenizer.save_pretrained(tmp_path)
    modules = [
        {"path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
        {"path": "2_Normalize", "type": "sentence_transformers.base.modules.normalize.Normalize"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"embedding_dimension": 64, "pooling_mode": "mean", "include_prompt": True})
    )
    assert declared_pooling(str(tmp_path)) == ("mean", True, "cosine")
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 64, "pooling_mode": "max"}))
    with pytest.raises(ValueError, match=r"its pooling \['max'\] is not one dpr_nb can reproduce"):
        declared_pooling(str(tmp_path))


def test_a_sentence_transformers_module_that_changes_the_vectors_is_refused(tmp_path):
    modules = [
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    with pytest.raises(ValueError, match=r"module 'sentence_transformers.models.Dense' \(folder '2_Dense'\)"):
        declared_pooling(str(tmp_path))


def test_a_hub_model_whose_pooling_cannot_be_fetched_warns_instead_of_silently_taking_cls(tmp_path, monkeypatch):
    """Offline, with nothing cached about the model: the [CLS] fallback is said, not silent. A model whose cache
    records modules.json as absent (a DPR checkpoint after its download) is [CLS] without a warning."""
    import warnings

    from standins import QUESTION_MODEL, hub_cache

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.warns(UserWarning, match="could not fetch its pooling settings"):
        assert declared_pooling("sentence-transformers/not-downloaded") == ("cls", False, None)
    hub_cache(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert declared_pooling(QUESTION_MODEL) == ("cls", False, None)


def test_a_model_from_facebooks_dpr_checkpoints_trains_saves_and_reloads_twice(tmp_path):
    """The finetune preset's shape: DPR-format checkpoints (DPRConfig, projection_dim 0). Saving used to fail with
    "DPRConfig() got multiple values for keyword argument 'projection_dim'" after the whole run had trained."""
    from standins import save_dpr_checkpoint
    from transformers import BertTokenizer

    query_model = save_dpr_checkpoint(tmp_path / "dpr-question", "question", seed=1)
    passage_model = save_dpr_checkpoint(tmp_path / "dpr-ctx", "context", seed=2)
    settings = dict(
        data_dir="builtin",
        max_samples=16,
        batch_size=8,
        n_epochs=1,
        learning_rate=1e-3,
        num_warmup_steps=0,
        save_dir=None,
    )
    retriever = DensePassageRetriever(
        query_embedding_model=str(query_model),
        passage_embedding_model=str(passage_model),
        max_seq_len_query=16,
        max_seq_len_passage=32,
        use_gpu=False,
        progress_bar=False,
    )
    assert retriever.model.query_encoder.pooling == "cls" and retriever.similarity_function == "dot_product"
    assert not retriever.model.shares_encoders  # DPR's two encoders by default
    for round_ in ("first", "second"):
        retriever.train(**settings)
        retriever.save(tmp_path / round_)
        reloaded = DensePassageRetriever.load(tmp_path / round_, use_gpu=False, progress_bar=False)
        np.testing.assert_array_equal(retriever.embed_queries(QUESTIONS), reloaded.embed_queries(QUESTIONS))
        np.testing.assert_array_equal(retriever.embed_documents(DOCUMENTS), reloaded.embed_documents(DOCUMENTS))
        retriever = reloaded  # the second round trains the reloaded model again, as `load` then `train` does
    # The saved folders are still Facebook's format: transformers' own DPR classes give the same vectors.
    question_encoder = DPRQuestionEncoder.from_pretrained(tmp_path / "second" / "query_encoder").eval()
    tokenizer = BertTokenizer.from_pretrained(tmp_path / "second" / "query_encoder")
    inputs = tokenizer(QUESTIONS, padding=True, return_tensors="pt")
    inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
    with torch.no_grad():
        pooled = question_encoder(**inputs).pooler_output
    np.testing.assert_allclose(pooled.numpy(), retriever.embed_queries(QUESTIONS), atol=1e-5)
    assert question_encoder.config.projection_dim == 0


@pytest.mark.parametrize("pooling, normalize", [("cls", False), ("mean", False), ("mean", True), ("cls", True)])
def test_saved_encoder_folders_are_sentence_transformers_models_with_the_same_vectors(tmp_path, pooling, normalize):
    """SentenceTransformer(save_dir + "/query_encoder") gives the retriever's own query vectors, for [CLS] models
    (saved in DPR's format) and mean-pooled ones (saved as the plain transformer) alike."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    encoders = [tiny_encoder(seed=seed, pooling=pooling) for seed in (1, 2)]
    for encoder in encoders:
        encoder.normalize = normalize
    retriever = DensePassageRetriever(
        model=BiEncoder(*encoders), use_gpu=False, progress_bar=False, max_seq_len_query=16, max_seq_len_passage=48
    )
    retriever.save(tmp_path)
    questions = sentence_transformers.SentenceTransformer(str(tmp_path / "query_encoder"), device="cpu")
    passages = sentence_transformers.SentenceTransformer(str(tmp_path / "passage_encoder"), device="cpu")
    assert questions.max_seq_length == 16 and passages.max_seq_length == 48
    np.testing.assert_allclose(questions.encode(QUESTIONS), retriever.embed_queries(QUESTIONS), atol=1e-5)
    texts = [f"{d.meta['name']} [SEP] {d.content}" for d in DOCUMENTS]  # the title/text pair as one string
    np.testing.assert_allclose(passages.encode(texts), retriever.embed_documents(DOCUMENTS), atol=1e-5)
    expected = "cosine" if normalize else "dot"
    assert questions.similarity_fn_name == expected
    # ... and dpr_nb reloads it with the same pooling
    reloaded = DensePassageRetriever.load(tmp_path, use_gpu=False, progress_bar=False)
    np.testing.assert_array_equal(reloaded.embed_queries(QUESTIONS), retriever.embed_queries(QUESTIONS))


def mean_pooled_checkpoint(folder, similarity_fn_name: str | None, normalize: bool = False, seed: int = 1):
    """A sentence-transformers checkpoint as its library writes one: mean pooling, Normalize or not, and
    config_sentence_transformers.json naming the similarity (or, as older versions, none)."""
    encoder = tiny_encoder(seed=seed)
    encoder.model.save_pretrained(folder)
    encoder.tokenizer.save_pretrained(folder)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    settings = {"__version__": {"sentence_transformers": "3.0.0"}}
    if similarity_fn_name is not None:
        settings["similarity_fn_name"] = similarity_fn_name
    (folder / "config_sentence_transformers.json").write_text(json.dumps(settings))
    return folder


@pytest.mark.parametrize(
    "named, normalize, expected",
    [
        ("cosine", False, "cosine"),  # before: dot product, temperature 1 and 1e-5, for want of a Normalize module
        ("cosine", True, "cosine"),
        ("dot", False, "dot_product"),
        ("dot", True, "cosine"),  # the dot product of unit vectors is their cosine: scores in [-1, 1] need 0.05
        (None, True, "cosine"),  # older models name none: a Normalize module says cosine
        (None, False, "dot_product"),  # ... and none says the dot product (msmarco-distilbert-base-tas-b)
    ],
)
def test_a_sentence_transformers_checkpoint_scores_as_its_config_says(tmp_path, named, normalize, expected):
    """similarity_fn_name is read, not only a Normalize module; the similarity then decides the temperature, the
    learning rate and whether the model is built as one encoder."""
    from dpr_nb import TrainConfig
    from dpr_nb.training.trainer import Trainer

    path = str(mean_pooled_checkpoint(tmp_path / "model", named, normalize))
    assert declared_pooling(path) == ("mean", normalize, expected)
    model = BiEncoder.from_pretrained(path, path)
    assert model.similarity_function == expected
    assert model.shares_encoders == (expected == "cosine")  # trained as one encoder
    trainer = Trainer(model, TrainConfig.preset("smoke", learning_rate=None, temperature=None), [])
    assert (trainer.similarity_function, trainer.temperature, trainer.learning_rate) == (
        (expected, 0.05, 2e-5) if expected == "cosine" else (expected, 1.0, 1e-5)
    )
    retriever = DensePassageRetriever(model=model, use_gpu=False, progress_bar=False)
    retriever.save(tmp_path / "saved")
    assert DensePassageRetriever.load(tmp_path / "saved", use_gpu=False).similarity_function == expected


def test_a_similarity_dpr_nb_does_not_have_is_refused_in_one_line(tmp_path):
    path = mean_pooled_checkpoint(tmp_path, "euclidean")
    with pytest.raises(ValueError, match=r"similarity_fn_name='euclidean', which dpr_nb does not have"):
        Encoder.from_pretrained(path)


def test_a_hub_name_and_a_local_copy_of_one_checkpoint_are_one_checkpoint(tmp_path, monkeypatch):
    """The query encoder by its hub name, the passage encoder from a downloaded copy: one checkpoint, built as one
    encoder; a different checkpoint in either role stays two."""
    from standins import hub_cache

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    cached = mean_pooled_checkpoint(tmp_path / "copy", "cosine")
    hub_cache(tmp_path, {"someone/mini-cosine": cached})
    model = BiEncoder.from_pretrained("someone/mini-cosine", str(cached))
    assert model.shares_encoders and model.similarity_function == "cosine"
    other = mean_pooled_checkpoint(tmp_path / "other", "cosine", seed=2)
    assert not BiEncoder.from_pretrained("someone/mini-cosine", str(other)).shares_encoders
