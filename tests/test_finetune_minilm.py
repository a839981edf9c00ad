"""dpr_nb's training step on the real all-MiniLM-L6-v2 is sentence-transformers' step, on German XQuAD records.

That a short fine-tune then ranks held-out questions' passages better (f1 up, average rank and loss down, on
articles never trained on) is asserted by tests/test_cpu_lesson.py, through the quickstart a learner runs.
"""

import json
import random

import pytest
import torch

from conftest import MINILM, XQUAD, need
from dpr_nb import TrainConfig
from dpr_nb.data.dpr_file import parse_record
from dpr_nb.model.encoders import BiEncoder
from dpr_nb.training.trainer import Trainer

HELD_OUT_ARTICLES = 8  # the last articles of the file: never seen in training
TRAIN_EVERY, TRAIN_CAP = 3, 240  # one training question in three, at most this many


def squad_to_dpr(squad: dict) -> list[list[dict]]:
    """SQuAD v1.1 -> DPR records, one list per article, in file order.

    Each paragraph is a passage; a question's positive is its paragraph, its hard negatives the other paragraphs of
    the same article that contain none of its answers.
    """
    articles = []
    for a, article in enumerate(squad["data"]):
        passages = [
            {"title": article["title"], "text": paragraph["context"], "passage_id": f"{a}-{p}"}
            for p, paragraph in enumerate(article["paragraphs"])
        ]
        records = []
        for p, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                answers = list(dict.fromkeys(answer["text"] for answer in qa["answers"]))
                hard_negatives = [
                    other
                    for q, other in enumerate(passages)
                    if q != p and not any(answer in other["text"] for answer in answers)
                ]
                records.append(
                    {
                        "question": qa["question"],
                        "answers": answers,
                        "positive_ctxs": [passages[p]],
                        "hard_negative_ctxs": hard_negatives,
                        "negative_ctxs": [],
                    }
                )
        articles.append(records)
    return articles


def make_splits() -> tuple[list[dict], list[dict]]:
    """(train records, held-out records): split by article; training questions subsampled deterministically."""
    squad = json.loads((need(XQUAD) / "xquad.de.json").read_text(encoding="utf-8"))
    articles = squad_to_dpr(squad)
    train = [r for records in articles[:-HELD_OUT_ARTICLES] for r in records][::TRAIN_EVERY][:TRAIN_CAP]
    held_out = [r for records in articles[-HELD_OUT_ARTICLES:] for r in records]
    # All of them (177): evaluating is cheap next to training, and 100 questions left the f1 change within noise.
    # A seeded shuffle mixes the held-out articles, so each evaluation batch ranks passages of several articles
    # (in file order a batch of 16 questions would hold one or two articles' paragraphs only).
    held_out = random.Random(0).sample(held_out, len(held_out))
    return train, held_out


def test_a_training_step_has_sentence_transformers_loss_and_gradient():
    """On a batch where no passage comes twice, dpr_nb's step on this checkpoint (one shared encoder, cosine at
    temperature 0.05) computes what sentence-transformers' MultipleNegativesRankingLoss (scale 20) computes on
    (question, positive, hard negative) rows with passages as "title [SEP] text": the same loss, the same gradient.
    Where the two tools' fine-tunes end apart, the difference is elsewhere (docs/benchmarks.md)."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    try:
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    except ImportError:  # sentence-transformers before 6
        from sentence_transformers.losses import MultipleNegativesRankingLoss
    need(MINILM)
    train, _ = make_splits()
    records, seen = [], set()
    for record in (r for r in train if r["hard_negative_ctxs"]):  # eight whose passages are all distinct
        passages = {record["positive_ctxs"][0]["passage_id"], record["hard_negative_ctxs"][0]["passage_id"]}
        if not passages & seen:
            records.append(record)
            seen |= passages
        if len(records) == 8:
            break
    examples = [parse_record(record, f"record {i}") for i, record in enumerate(records, start=1)]
    items = [(e, e.positives[:1], e.hard_negatives[:1]) for e in examples]

    model = BiEncoder.from_pretrained(str(MINILM), str(MINILM))
    config = TrainConfig(batch_size=8, num_hard_negatives=1, dropout=0.0, save_dir=None, evaluate_every=0)
    trainer = Trainer(model, config, examples, progress_bar=False)
    assert model.shares_encoders and (trainer.similarity_function, trainer.temperature) == ("cosine", 0.05)
    model.train()
    loss = trainer.forward_backward(trainer.make_batch(items), 1.0)
    ours = {name: p.grad for name, p in model.query_encoder.model.named_parameters() if p.grad is not None}

    peer = sentence_transformers.SentenceTransformer(str(MINILM), device="cpu")
    peer.max_seq_length = config.max_seq_len_passage
    for module in peer.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    peer.train()
    tokenize = getattr(peer, "preprocess", None) or peer.tokenize
    columns = [
        [e.question for e in examples],
        [f"{e.positives[0].title} [SEP] {e.positives[0].text}" for e in examples],
        [f"{e.hard_negatives[0].title} [SEP] {e.hard_negatives[0].text}" for e in examples],
    ]
    peer_loss = MultipleNegativesRankingLoss(peer, scale=20.0)([tokenize(texts) for texts in columns], None)
    peer_loss.backward()
    theirs = {name.split("model.", 1)[1]: p.grad for name, p in peer.named_parameters() if p.grad is not None}

    assert loss == pytest.approx(peer_loss.item(), rel=1e-5)
    assert set(ours) == set(theirs)
    difference = sum((ours[name] - theirs[name]).norm() ** 2 for name in ours) ** 0.5
    assert difference / sum(g.norm() ** 2 for g in theirs.values()) ** 0.5 < 1e-4
