import copy

import pytest
import torch

from dpr_nb import TrainConfig
from dpr_nb.data.batches import length_groups, trim_padding
from dpr_nb.data.dpr_file import BatchSampler
from dpr_nb.data.splits import load_splits
from dpr_nb.model.encoders import BiEncoder, tiny_encoder
from dpr_nb.model.loss import in_batch_negatives_loss
from dpr_nb.training.trainer import History, Trainer, TrainingMemoryError, resolve_device


def without_dropout(model):
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def test_gradient_accumulation_equals_summed_micro_batch_gradients():
    """Two optimizer steps of 2 micro-batches each, against the same computation written out by hand."""
    examples = load_splits("builtin", "")["train"][:32]
    config = TrainConfig.preset(
        "smoke",
        batch_size=8,
        grad_acc_steps=2,
        n_epochs=1,
        num_warmup_steps=0,
        learning_rate=1e-3,
        max_grad_norm=1.0,
        save_dir=None,
    )
    model = without_dropout(BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)))
    reference = copy.deepcopy(model)

    trainer = Trainer(model, config, examples)
    history = trainer.train()
    assert len(history.steps) == 2

    # The same micro-batches: the sampler is seeded with config.seed.
    micro_batches = [
        trainer.make_batch(items)
        for items in BatchSampler(examples, 8, config.num_positives, config.num_hard_negatives, seed=config.seed)
    ]
    # The trainer fuses AdamW into one kernel on a CPU (the same update, rounded differently from the loop).
    optimizer = torch.optim.AdamW(
        reference.parameters(), lr=config.learning_rate, eps=config.epsilon, weight_decay=0.0, fused=True
    )
    losses = []
    for step, group in enumerate([micro_batches[:2], micro_batches[2:]]):
        total = 0.0
        for batch in group:
            query, passage = reference(batch.query, batch.passage)
            loss, _ = in_batch_negatives_loss(query, passage, batch.positive_mask)
            (loss / 2).backward()
            total += loss.item() / 2
        torch.nn.utils.clip_grad_norm_(reference.parameters(), config.max_grad_norm)
        for param_group in optimizer.param_groups:
            param_group["lr"] = config.learning_rate * (1 - step / 2)  # linear decay over 2 steps, no warmup
        optimizer.step()
        optimizer.zero_grad()
        losses.append(total)

    assert [s["loss"] for s in history.steps] == pytest.approx(losses, rel=1e-5)
    for (name, trained), expected in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(trained, expected, rtol=1e-5, atol=1e-6, msg=name)


def test_training_lowers_the_loss_and_improves_the_rank():
    splits = load_splits("builtin", "")
    config = TrainConfig.preset("smoke", n_epochs=4, save_dir=None)
    trainer = Trainer(BiEncoder(tiny_encoder(), tiny_encoder()), config, splits["train"], splits["dev"])
    before = trainer.evaluate(splits["test"], "test")
    history = trainer.train()
    after = trainer.evaluate(splits["test"], "test")
    assert after["loss"] < before["loss"] and after["average_rank"] < before["average_rank"]
    assert [e["split"] for e in history.evaluations] == ["test", "dev", "test"]
    assert History.from_dict(history.to_dict()) == history


def test_unknown_event_is_refused():
    trainer = Trainer(BiEncoder(tiny_encoder(), tiny_encoder()), TrainConfig.preset("smoke"), [])
    with pytest.raises(ValueError, match="on_step_end"):
        trainer.add_callback("on_batch_end", print)


def test_config_presets_and_validation():
    assert TrainConfig.preset("finetune").query_model == "facebook/dpr-question_encoder-single-nq-base"
    assert TrainConfig.preset("from_scratch").passage_model == "bert-base-uncased"
    assert TrainConfig.preset("from_scratch").grad_acc_steps == 8
    with pytest.raises(ValueError, match="Unknown preset"):
        TrainConfig.preset("huge")
    with pytest.raises(ValueError, match="batch_size=0 must be at least 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="similarity"):
        TrainConfig(similarity_function="euclidean")
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"batchsize": 3})


@pytest.mark.parametrize("chunk, advice", [(None, "grad_cache_chunk_size=16"), (8, "grad_cache_chunk_size=4 (now 8)")])
def test_out_of_memory_is_answered_with_what_to_change(monkeypatch, chunk, advice):
    examples = load_splits("builtin", "")["train"][:16]
    config = TrainConfig.preset("smoke", n_epochs=1, save_dir=None, grad_cache_chunk_size=chunk)
    trainer = Trainer(BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)), config, examples, progress_bar=False)

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trainer.model.passage_encoder, "forward", out_of_memory)
    with pytest.raises(TrainingMemoryError) as error:
        trainer.train()
    message = str(error.value)
    assert advice in message and "max_seq_len_passage (now 64)" in message and "batch_size=16" in message
    assert error.value.__cause__ is None and error.value.__suppress_context__  # no torch traceback attached


def test_precision_is_float32_on_the_cpu_and_half_precision_asked_for_there_warns():
    model = BiEncoder(tiny_encoder(), tiny_encoder())
    trainer = Trainer(model, TrainConfig.preset("smoke", device="cpu"), [])
    assert (trainer.autocast_dtype, trainer.scaler) == (None, None)  # "auto" on a CPU: float32, quietly
    with pytest.warns(UserWarning, match="precision='fp16' needs an NVIDIA GPU"):
        trainer = Trainer(model, TrainConfig.preset("smoke", device="cpu", precision="fp16"), [])
    assert trainer.autocast_dtype is None


def test_shared_encoders_train_one_encoder_for_questions_and_passages():
    """One optimizer step with share_encoders against the same step written out by hand with a single encoder."""
    examples = load_splits("builtin", "")["train"][:8]
    config = TrainConfig.preset(
        "smoke",
        batch_size=8,
        n_epochs=1,
        num_warmup_steps=0,
        learning_rate=1e-3,
        max_grad_norm=1.0,
        save_dir=None,
        share_encoders=True,
    )
    model = without_dropout(BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)))
    reference = copy.deepcopy(model.query_encoder)  # the encoder both roles start from

    trainer = Trainer(model, config, examples)
    history = trainer.train()
    assert model.shares_encoders and model.passage_encoder is model.query_encoder
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())

    (batch,) = [
        trainer.make_batch(items)
        for items in BatchSampler(examples, 8, config.num_positives, config.num_hard_negatives, seed=config.seed)
    ]
    # The trainer fuses AdamW into one kernel on a CPU (the same update, rounded differently from the loop).
    optimizer = torch.optim.AdamW(
        reference.parameters(), lr=config.learning_rate, eps=config.epsilon, weight_decay=0.0, fused=True
    )
    # The passages in the groups the trainer encodes them in (BiEncoder.forward): the same arithmetic, so Adam's
    # first step, which divides each gradient by its own size, sees the same rounding.
    passages = torch.cat([reference(**group) for group in length_groups(batch.passage)])
    loss, _ = in_batch_negatives_loss(reference(**trim_padding(batch.query)), passages, batch.positive_mask)
    loss.backward()  # the gradients of both roles add up in the one set of weights
    torch.nn.utils.clip_grad_norm_(reference.parameters(), config.max_grad_norm)
    optimizer.step()

    assert history.steps[0]["loss"] == pytest.approx(loss.item(), rel=1e-5)
    for (name, trained), expected in zip(model.query_encoder.named_parameters(), reference.parameters()):
        torch.testing.assert_close(trained, expected, rtol=1e-5, atol=1e-6, msg=name)


def test_sharing_by_default_is_what_the_model_is():
    """share_encoders=None: the model as it was built or loaded, one encoder or two (BiEncoder.from_pretrained
    decides from the checkpoints, tests/test_encoders.py); True or False changes it for the run."""

    def one() -> BiEncoder:
        encoder = tiny_encoder(seed=1)
        return BiEncoder(encoder, encoder)

    def two() -> BiEncoder:
        return BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=1))

    config = TrainConfig.preset("smoke")
    assert config.share_encoders is None
    assert Trainer(one(), config, []).model.shares_encoders
    assert not Trainer(two(), config, []).model.shares_encoders
    assert not Trainer(one(), config.replace(share_encoders=False), []).model.shares_encoders
    assert Trainer(two(), config.replace(share_encoders=True), []).model.shares_encoders


def test_learning_rate_by_default_follows_the_checkpoints_recipe():
    """learning_rate=None: sentence-transformers' 2e-5 for a checkpoint that normalises its vectors, DPR's and
    Haystack's 1e-5 for DPR, BERT and the tiny model; a number overrides. The optimizer peaks at it."""

    def model(normalize: bool) -> BiEncoder:
        query, passage = tiny_encoder(seed=1), tiny_encoder(seed=1)
        query.normalize = passage.normalize = normalize
        return BiEncoder(query, passage)

    config = TrainConfig.preset("smoke").replace(learning_rate=None)
    assert TrainConfig().learning_rate is None
    assert Trainer(model(normalize=True), config, []).learning_rate == 2e-5
    assert Trainer(model(normalize=False), config, []).learning_rate == 1e-5
    assert Trainer(model(normalize=True), config.replace(learning_rate=3e-5), []).learning_rate == 3e-5
    optimizer = Trainer(model(normalize=True), config, [])._optimizer()
    assert {group["lr"] for group in optimizer.param_groups} == {2e-5}


def test_shared_encoders_need_one_starting_model():
    other = tiny_encoder(seed=2)
    other.source = "another/model"
    with pytest.raises(ValueError, match="must start from the same model"):
        Trainer(BiEncoder(tiny_encoder(seed=1), other), TrainConfig.preset("smoke", share_encoders=True), [])


def test_dropout_setting_reaches_every_dropout_layer_and_none_keeps_the_checkpoints_own():
    examples = load_splits("builtin", "")["train"][:8]
    inputs = None
    for dropout, expected in ((None, 0.1), (0.0, 0.0), (0.3, 0.3)):
        model = BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2))
        Trainer(model, TrainConfig.preset("smoke", dropout=dropout, device="cpu", save_dir=None), examples)
        probabilities = {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
        assert probabilities == {expected}
        assert model.query_encoder.model.config.hidden_dropout_prob == expected  # saved with the model
        if dropout == 0.0:  # no dropout: training mode gives eval mode's vectors, so runs compare exactly
            encoder = model.query_encoder
            inputs = encoder.tokenizer(["who founded velmora"], return_tensors="pt")
            encoder.train()
            with torch.no_grad():
                training = encoder(**inputs)
                encoder.eval()
                torch.testing.assert_close(training, encoder(**inputs), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"dropout=1.0 must be in \[0, 1\)"):
        TrainConfig(dropout=1.0)


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_device_is_cuda_then_apple_silicon_then_cpu(monkeypatch, cuda, mps, expected):
    """On an Apple Silicon laptop 'auto' picks its GPU (MPS); an NVIDIA GPU comes first, the CPU last."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve_device("auto").type == expected


# --- What each question competes against: the step record's negatives -------------------------------------------


def distinct_examples(count: int) -> list:
    """Questions whose gold passage and one hard negative are all different passages: the counts are by hand."""
    from dpr_nb.data.dpr_file import DPRExample, Passage

    passage = lambda name: Passage(title=name, text=f"text of {name}")  # noqa: E731
    return [DPRExample(f"question {i}", ["x"], [passage(f"gold{i}")], [passage(f"hard{i}")]) for i in range(count)]


@pytest.mark.parametrize(
    "settings, expected",
    [
        # batch 4, 1 hard negative: 8 passages, each question's own positive is not a negative: 7 = 1 hard + 6
        (dict(batch_size=4), dict(negatives=7, in_batch_negatives=6, hard_negatives=1)),
        # accumulation: 2 batches of 2 make the step, and each question still ranks only its own batch: 3 = 1 + 2
        (dict(batch_size=2, grad_acc_steps=2), dict(negatives=3, in_batch_negatives=2, hard_negatives=1)),
        # caching: the batch of 4 encoded 2 texts at a time is still the batch of 4
        (dict(batch_size=4, grad_cache_chunk_size=2), dict(negatives=7, in_batch_negatives=6, hard_negatives=1)),
        # no hard negatives: 4 passages, 3 in-batch negatives
        (dict(batch_size=4, num_hard_negatives=0), dict(negatives=3, in_batch_negatives=3, hard_negatives=0)),
    ],
)
def test_every_step_records_its_negatives_per_question(settings, expected):
    config = TrainConfig.preset("smoke", n_epochs=1, save_dir=None, **{"num_hard_negatives": 1, **settings})
    trainer = Trainer(BiEncoder(tiny_encoder(), tiny_encoder()), config, distinct_examples(8), progress_bar=False)
    history = trainer.train()
    assert len(history.steps) == 2
    for record in history.steps:
        assert {name: record[name] for name in expected} == expected
        assert record["negatives_from_other_processes"] == 0


def test_negatives_count_shared_passages_once_as_collate_does():
    from dpr_nb.data.batches import collate
    from dpr_nb.data.dpr_file import DPRExample, Passage
    from dpr_nb.training.trainer import count_negatives

    p = {name: Passage(title=name, text=f"text of {name}") for name in ("g0", "h0", "g1", "g2", "h2", "h3")}
    items = [
        (DPRExample("q0", [], [p["g0"]]), [p["g0"]], [p["h0"]]),
        (DPRExample("q1", [], [p["g1"]]), [p["g1"]], [p["g0"]]),  # q1's hard negative is q0's gold passage
        (DPRExample("q2", [], [p["g2"]]), [p["g2"]], [p["h2"]]),
        (DPRExample("q3", [], [p["g2"]]), [p["g2"]], [p["h3"]]),  # q2 and q3 share their gold passage
    ]
    # 6 distinct passages; each question: 1 answers it, 1 is its own hard negative, 4 are the others'
    counts = count_negatives(items)
    assert counts == {
        "negatives": 5.0,
        "in_batch_negatives": 4.0,
        "hard_negatives": 1.0,
        "negatives_from_other_processes": 0.0,
    }
    tokenizer = tiny_encoder().tokenizer
    batch = collate(items, tokenizer, tokenizer, 16, 16, True)
    assert (~batch.positive_mask).sum(dim=1).tolist() == [5, 5, 5, 5]  # what the loss sees as wrong, per question
    # torchrun: another process brought g0 again and two passages of its own; only those two are new
    gathered = [*batch.passage_keys, p["g0"].text_key, "text:x1\ntext", "text:x2\ntext"]
    assert count_negatives(items, gathered)["negatives_from_other_processes"] == 2.0
    assert count_negatives(items, gathered)["negatives"] == 7.0


def test_default_warmup_is_a_tenth_of_the_run_so_a_short_fine_tune_reaches_its_learning_rate():
    """A fixed 100 steps (Haystack's) outlasts a 20-step run: its rate would never pass a fifth of the peak."""
    examples = load_splits("builtin", "")["train"][:160]  # 20 steps of 8
    config = TrainConfig.preset("smoke", batch_size=8, n_epochs=1, save_dir=None, max_seq_len_passage=16)
    config = config.replace(num_warmup_steps=TrainConfig().num_warmup_steps)  # the default, not the preset's 20
    model = BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2))
    rates = [record["learning_rate"] for record in Trainer(model, config, examples).train().steps]
    peak = config.learning_rate
    assert len(rates) == 20
    # transformers' linear schedule: step s of the warm-up's 2 uses s/2 of the peak, then it decays to 0 at step 20.
    expected = [peak * min(step / 2, (20 - step) / 18) for step in range(20)]
    assert rates == pytest.approx(expected)


def test_max_steps_trains_that_many_steps_over_the_epochs_they_take_the_rate_ending_there():
    """Batch sizes compared at a fixed number of steps: batch 8 and batch 32 both take 10 steps of 64 questions, over
    2 and 5 epochs, and the linear schedule reaches 0 at the 10th whatever n_epochs says."""
    examples = load_splits("builtin", "")["train"][:64]
    for batch_size, last_epoch in ((8, 1), (32, 4)):
        config = TrainConfig.preset(
            "smoke", batch_size=batch_size, n_epochs=1, max_steps=10, num_warmup_steps=0, save_dir=None
        )
        model = BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2))
        steps = Trainer(model, config, examples).train().steps
        assert [s["step"] for s in steps] == list(range(1, 11)) and steps[-1]["epoch"] == last_epoch
        peak = config.learning_rate
        assert [s["learning_rate"] for s in steps] == pytest.approx([peak * (10 - step) / 10 for step in range(10)])
    with pytest.raises(ValueError, match="max_steps=0 must be at least 1"):
        TrainConfig(max_steps=0)


def early_stopped(checkpoint_dir=None, **overrides) -> Trainer:
    """A run whose last weights are not its best: a learning rate far too high, so the dev loss gets worse after
    the first evaluations and early stopping ends it `patience` evaluations after the best."""
    from dpr_nb.data.splits import load_splits

    splits = load_splits("builtin", "")
    settings = dict(max_samples=160, n_epochs=10, evaluate_every=2, learning_rate=0.5, num_warmup_steps=0)
    settings.update(save_dir=None, selection_metric="loss", early_stopping_patience=2, checkpoint_dir=checkpoint_dir)
    config = TrainConfig.preset("smoke", **{**settings, "checkpoint_every": 2, **overrides})
    model = BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2))
    return Trainer(model, config, splits["train"][:160], splits["dev"][:32], progress_bar=False)


def test_the_dev_report_after_training_describes_the_weights_kept():
    """reports["dev"] (and the run store's and the model card's dev figures) were of the last step's weights,
    evaluated before the best ones were restored."""
    trainer = early_stopped()
    history = trainer.train()
    best = history.best
    assert history.evaluations[-1]["step"] > best["step"]  # the last evaluation is of other weights
    assert trainer.reports["dev"]["loss"] == pytest.approx(best["value"], abs=1e-6)
    assert history.kept_evaluations["dev"]["step"] == best["step"]
    assert history.kept_evaluations["dev"]["loss"] == pytest.approx(best["value"], abs=1e-6)
    assert trainer.evaluate(trainer.dev_examples, "again")["loss"] == pytest.approx(best["value"], abs=1e-6)
    assert history.kept_evaluations["again"]["step"] == best["step"]  # an evaluation after training: of those weights
    dev_steps = [e["step"] for e in history.evaluations if e["split"] == "dev"]
    assert dev_steps == sorted(dev_steps)  # the curve keeps its evaluations as they happened


def test_resuming_a_finished_run_returns_the_weights_it_kept(tmp_path):
    """resume=True on an early-stopped run returned at once with the last checkpoint's weights, while the model card
    said "kept the weights of step X"; now a resume gives what the run itself left behind."""
    first = early_stopped(str(tmp_path))
    first.train()
    kept = {name: value.clone() for name, value in first.model.state_dict().items()}
    resumed = early_stopped(str(tmp_path))
    history = resumed.train(resume=True)
    assert history.best == first.history.best and history.stopped_early_at == first.history.stopped_early_at
    assert all(torch.equal(value, resumed.model.state_dict()[name]) for name, value in kept.items())
    assert resumed.reports["dev"]["loss"] == pytest.approx(first.history.best["value"], abs=1e-6)
    # Without a selection metric the kept weights are the last: a resume still gives dev's report of them.
    settings = dict(selection_metric=None, early_stopping_patience=0, n_epochs=1)
    plain = early_stopped(str(tmp_path / "plain"), **settings)
    plain.train()
    again = early_stopped(str(tmp_path / "plain"), **settings)
    again.train(resume=True)
    assert again.reports["dev"]["loss"] == pytest.approx(plain.reports["dev"]["loss"], abs=1e-6)


def test_with_stop_on_interrupt_a_first_interrupt_stops_after_the_step_and_a_second_at_once():
    """The notebook's interrupt is SIGINT: with stop_on_interrupt the first ends training as request_stop does, the
    second raises KeyboardInterrupt; without it, the first raises, as ever. The handler is put back after training."""
    import os
    import signal

    examples = load_splits("builtin", "")["train"][:48]
    config = TrainConfig.preset("smoke", batch_size=8, n_epochs=1, save_dir=None, device="cpu")

    def train(interrupts: int, stop_on_interrupt: bool = True) -> Trainer:
        trainer = Trainer(BiEncoder(tiny_encoder(seed=1), tiny_encoder(seed=2)), config, examples, progress_bar=False)
        trainer.stop_on_interrupt = stop_on_interrupt

        def interrupt(trainer, record):
            if record["step"] == 2:
                for _ in range(interrupts):
                    os.kill(os.getpid(), signal.SIGINT)

        trainer.add_callback("on_step_end", interrupt)
        trainer.train()
        return trainer

    before = signal.getsignal(signal.SIGINT)
    trainer = train(interrupts=1)
    assert trainer.history.stopped_at == 2 and len(trainer.history.steps) == 2  # of 6
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):
        train(interrupts=2)
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):
        train(interrupts=1, stop_on_interrupt=False)
