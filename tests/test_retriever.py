"""The seed tutorial's calls, on the built-in dataset with the tiny model."""

import json
import warnings

import numpy as np
import pytest
import torch

from dpr_nb import DensePassageRetriever, Document, InMemoryDocumentStore, TrainConfig
from dpr_nb.cli import main as cli_main
from dpr_nb.data.builtin_data import EXAMPLE_QUESTIONS, builtin_passages, write_builtin_dataset
from dpr_nb.model.encoders import BiEncoder, tiny_encoder


def tiny(**kwargs):
    return DensePassageRetriever(
        query_embedding_model="dpr-nb/tiny-bert",
        passage_embedding_model="dpr-nb/tiny-bert",
        use_gpu=False,
        progress_bar=False,
        **kwargs,
    )


def test_seed_tutorial_code_trains_saves_and_reloads(tmp_path):
    doc_dir, save_dir = tmp_path / "data", tmp_path / "model"
    write_builtin_dataset(doc_dir)
    retriever = tiny(document_store=InMemoryDocumentStore(), max_seq_len_query=32, max_seq_len_passage=64)
    history = retriever.train(
        data_dir=str(doc_dir),
        train_filename="train.json",
        dev_filename="dev.json",
        test_filename="dev.json",
        n_epochs=2,
        batch_size=16,
        grad_acc_steps=2,
        save_dir=str(save_dir),
        evaluate_every=10,
        embed_title=True,
        num_positives=1,
        num_hard_negatives=1,
        learning_rate=5e-4,
        num_warmup_steps=4,
    )
    micro_batches = -(-500 // 16)  # 500 training questions
    assert len(history.steps) == 2 * -(-micro_batches // 2)  # optimizer steps: accumulation halves them
    assert [e["step"] for e in history.evaluations if e["split"] == "dev"] == [10, 20, 30, 32]
    assert history.evaluations[-1]["split"] == "test"
    learning_rates = [s["learning_rate"] for s in history.steps]
    assert max(learning_rates) == pytest.approx(5e-4, rel=0.05) and learning_rates[-1] < learning_rates[15]

    reloaded = DensePassageRetriever.load(
        load_dir=str(save_dir), document_store=None, use_gpu=False, progress_bar=False
    )
    np.testing.assert_array_equal(retriever.embed_queries(EXAMPLE_QUESTIONS), reloaded.embed_queries(EXAMPLE_QUESTIONS))
    assert reloaded.max_seq_len_passage == 64
    assert reloaded.train_config.grad_acc_steps == 2 and reloaded.train_config.data_dir == str(doc_dir)
    assert len(reloaded.history.steps) == len(history.steps)
    # Every save writes a model card with the training curve.
    card = (save_dir / "README.md").read_text(encoding="utf-8")
    assert "dpr-nb/tiny-bert" in card and "![training](training.png)" in card
    assert (save_dir / "training.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((save_dir / "train_config.json").read_text())
    assert TrainConfig.from_dict(saved) == retriever.train_config


def test_document_store_retrieve_and_embeddings():
    retriever = tiny(document_store=InMemoryDocumentStore(), top_k=4, scale_score=False)
    passages = builtin_passages()[:20]
    documents = [Document(content=p["text"], meta={"name": p["title"]}, id=p["passage_id"]) for p in passages]
    retriever.document_store.write_documents(documents)
    retriever.document_store.update_embeddings(retriever)
    assert retriever.embed_queries(["a", "b", "c"]).shape == (3, 64)
    document_embeddings = retriever.embed_documents(documents)
    assert document_embeddings.shape == (20, 64)

    results = retriever.retrieve(EXAMPLE_QUESTIONS[0])
    assert len(results) == 4 and all(isinstance(d, Document) for d in results)
    expected = document_embeddings @ retriever.embed_queries(EXAMPLE_QUESTIONS[:1])[0]
    assert [d.id for d in results] == [documents[i].id for i in np.argsort(-expected)[:4]]
    assert [d.score for d in results] == pytest.approx(sorted(expected, reverse=True)[:4], rel=1e-4)
    assert len(retriever.retrieve(EXAMPLE_QUESTIONS[0], top_k=2)) == 2
    scaled = retriever.retrieve(EXAMPLE_QUESTIONS[0], scale_score=True)
    assert all(0 < d.score < 1 for d in scaled)


def test_store_sees_documents_written_after_a_query_and_breaks_ties_in_writing_order():
    store = InMemoryDocumentStore(similarity="dot_product")
    store.write_documents([Document(content=f"text {i}", embedding=np.array([1.0, 0.0])) for i in range(5)])
    assert [d.content for d in store.query_by_embedding(np.array([1.0, 0.0]), top_k=3)] == [
        "text 0",
        "text 1",
        "text 2",
    ]
    store.write_documents([Document(content="closer", embedding=np.array([2.0, 0.0]))])  # after the first query
    assert [d.content for d in store.query_by_embedding(np.array([1.0, 0.0]), top_k=2)] == ["closer", "text 0"]
    store.delete_documents()
    assert store.query_by_embedding(np.array([1.0, 0.0])) == []


def test_batched_embeddings_come_back_in_order_and_equal_one_text_at_a_time():
    """Texts are embedded longest first in batches (little padding); each row is still its own text's vector."""
    retriever = tiny()
    passages = builtin_passages()[:13]
    documents = [
        Document(content=p["text"] + " extra words" * (i % 4), meta={"name": p["title"]})
        for i, p in enumerate(passages)
    ]
    one_by_one = np.concatenate([retriever.embed_documents([d], batch_size=1) for d in documents])
    np.testing.assert_allclose(retriever.embed_documents(documents, batch_size=4), one_by_one, atol=1e-5)
    questions = [q + " ?" * i for i, q in enumerate(EXAMPLE_QUESTIONS)]
    one_by_one = np.concatenate([retriever.embed_queries([q], batch_size=1) for q in questions])
    np.testing.assert_allclose(retriever.embed_queries(questions, batch_size=2), one_by_one, atol=1e-5)


def test_retrieve_without_a_store_or_with_filters_is_refused():
    retriever = tiny()
    with pytest.raises(ValueError, match="no document store"):
        retriever.retrieve("a question")
    with pytest.raises(NotImplementedError, match="filters"):
        retriever.retrieve("a question", filters={"name": "x"}, document_store=InMemoryDocumentStore())


def test_cosine_similarity_is_used_and_kept(tmp_path):
    retriever = tiny(similarity_function="cosine")
    retriever.train(n_epochs=1, max_samples=32, save_dir=str(tmp_path), config=TrainConfig.preset("smoke"))
    assert retriever.train_config.similarity_function == "cosine"
    assert DensePassageRetriever.load(tmp_path, use_gpu=False).similarity_function == "cosine"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n_gpu": 2}, ValueError, "n_gpu=2"),
        ({"optimizer_name": "SGD"}, ValueError, "AdamW"),
        ({"early_stopping": object()}, ValueError, "early_stopping"),
    ],
)
def test_arguments_that_cannot_apply_raise(kwargs, error, message):
    with pytest.raises(error, match=message):
        tiny().train(config=TrainConfig.preset("smoke"), **kwargs)


def test_arguments_without_effect_warn(tmp_path):
    with pytest.warns(UserWarning, match="no effect"):
        tiny(global_loss_buffer_size=150000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tiny().train(
            config=TrainConfig.preset("smoke", max_samples=16, n_epochs=1, save_dir=None), max_processes=4, use_amp=True
        )
    messages = " ".join(str(w.message) for w in caught)
    assert "max_processes" in messages and "use_amp=True has no effect on the CPU" in messages


def test_callbacks_see_every_step_and_evaluation():
    retriever = DensePassageRetriever(model=BiEncoder(tiny_encoder(), tiny_encoder()), use_gpu=False)
    seen = {"steps": [], "evaluations": []}
    history = retriever.train(
        config=TrainConfig.preset("smoke", max_samples=64, n_epochs=2, save_dir=None),
        callbacks={
            "on_step_end": lambda trainer, record: seen["steps"].append(record),
            "on_evaluate": [lambda trainer, record: seen["evaluations"].append(record)],
        },
    )
    assert seen["steps"] == history.steps and len(seen["steps"]) == 8
    assert seen["evaluations"] == history.evaluations
    assert [e["split"] for e in seen["evaluations"]] == ["dev", "test"]


def test_demo_command_improves_the_report(tmp_path, capsys):
    assert cli_main(["demo", "--save-dir", str(tmp_path / "demo"), "--epochs", "2"]) == 0
    output = capsys.readouterr().out
    assert "BEFORE training" in output and "AFTER training" in output
    assert "identical query embeddings: True" in output
    assert (tmp_path / "demo" / "query_encoder" / "config.json").is_file()


def test_from_config_takes_the_models_lengths_title_similarity_and_device_of_the_config():
    from dpr_nb import TrainConfig

    config = TrainConfig.preset(
        "smoke",
        max_seq_len_query=24,
        max_seq_len_passage=48,
        embed_title=False,
        similarity_function="cosine",
        device="cpu",
    )
    retriever = DensePassageRetriever.from_config(config, progress_bar=False)
    assert (retriever.max_seq_len_query, retriever.max_seq_len_passage) == (24, 48)
    assert retriever.embed_title is False and retriever.similarity_function == "cosine"
    assert retriever.device.type == "cpu" and retriever.model.query_encoder.source == config.query_model


def test_a_device_the_config_names_is_the_one_training_uses():
    """`dpr-nb train --set device=cuda:1` trained on cuda:0: the retriever's own device replaced the config's."""
    from dpr_nb import TrainConfig

    retriever = DensePassageRetriever.from_config(TrainConfig.preset("smoke", device="cpu"), progress_bar=False)
    assert retriever._config(TrainConfig(device="cuda:1")).device == "cuda:1"
    # "auto": where the model already is. Here that is what "auto" picks, recorded as "auto" (as train_model records
    # a config's "auto"); a retriever placed elsewhere records its own device.
    assert retriever._config(TrainConfig(device="auto")).device == "auto"
    retriever.device = torch.device("meta")
    assert retriever._config(TrainConfig(device="auto")).device == "meta"


def test_the_tutorials_sequence_keeps_a_two_encoder_minilm_model_two_all_the_way(tmp_path):
    """evaluate -> train -> evaluate -> train -> save -> load on DPR's two encoders made from one sentence-transformers
    checkpoint (built as one encoder, split by share_encoders=False). Before, the evaluation after training built a
    Trainer with share_encoders=None, which tied the model back into one and threw the trained passage encoder away;
    save then wrote the query encoder twice."""
    import torch

    from conftest import MINILM, need

    path = str(need(MINILM))
    retriever = DensePassageRetriever(
        query_embedding_model=path,
        passage_embedding_model=path,
        max_seq_len_query=32,
        max_seq_len_passage=64,
        use_gpu=False,
        progress_bar=False,
    )
    assert retriever.model.shares_encoders  # one checkpoint trained as one encoder
    builtin = write_builtin_dataset(tmp_path / "builtin")
    for split, count in (("train", 16), ("dev", 8)):  # small, so that MiniLM trains and evaluates in seconds
        records = json.loads(builtin[split].read_text(encoding="utf-8"))[:count]
        (tmp_path / f"{split}.json").write_text(json.dumps(records), encoding="utf-8")
    dev = tmp_path / "dev.json"
    retriever.evaluate(dev)
    settings = dict(data_dir=str(tmp_path), train_filename="train.json", dev_filename="dev.json", batch_size=8)
    settings.update(n_epochs=1, num_warmup_steps=0, save_dir=None)
    retriever.train(config=TrainConfig(share_encoders=False), **settings)
    assert not retriever.model.shares_encoders

    def weights(encoder):
        return {name: value.clone() for name, value in encoder.state_dict().items()}

    trained_passage = weights(retriever.model.passage_encoder)
    retriever.evaluate(dev)
    assert not retriever.model.shares_encoders  # evaluation never changes a model
    assert all(torch.equal(v, retriever.model.passage_encoder.state_dict()[k]) for k, v in trained_passage.items())
    retriever.train(**settings)  # share_encoders=None: what the model is, two encoders
    assert not retriever.model.shares_encoders
    retriever.save(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "retriever_config.json").read_text())
    assert saved["shared_encoders"] is False
    reloaded = DensePassageRetriever.load(tmp_path / "saved", use_gpu=False, progress_bar=False)
    assert not reloaded.model.shares_encoders
    documents = [Document(content=p["text"], meta={"name": p["title"]}) for p in builtin_passages()[:8]]
    np.testing.assert_allclose(reloaded.embed_documents(documents), retriever.embed_documents(documents), atol=1e-6)
    query, passage = reloaded.model.query_encoder.state_dict(), reloaded.model.passage_encoder.state_dict()
    assert not all(torch.equal(query[k], passage[k]) for k in query)  # two encoders, trained apart
