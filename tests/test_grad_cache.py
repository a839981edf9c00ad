import copy

import pytest
import torch
from training_worker import make_trainer

from dpr_nb.model.grad_cache import chunks
from dpr_nb.model.loss import in_batch_negatives_loss


def gradients(model):
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def first_batch(trainer):
    from dpr_nb.data.dpr_file import BatchSampler

    c = trainer.config
    items = next(iter(BatchSampler(trainer.train_examples, 16, c.num_positives, c.num_hard_negatives, seed=0)))
    return trainer.make_batch(items)


@pytest.mark.parametrize("chunk", [1, 5, 16])
def test_cached_loss_and_gradients_equal_the_whole_batch_at_once(chunk):
    whole = make_trainer(dropout=False)
    cached = make_trainer(chunk=chunk, dropout=False)
    batch = first_batch(whole)
    assert batch.passage["input_ids"].shape[0] > 40  # 16 questions, 3 passages each, a few shared
    loss = whole.forward_backward(batch, 1.0)
    cached_loss = cached.forward_backward(batch, 1.0)
    assert cached_loss == pytest.approx(loss, abs=1e-5)
    expected, got = gradients(whole.model), gradients(cached.model)
    assert expected.keys() == got.keys() and len(expected) > 20  # every parameter of both encoders
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-5, rtol=1e-4, msg=name)


def test_re_encoding_replays_the_dropout_of_the_first_pass():
    """With dropout on, the gradient is that of the chunked forward pass it cached: same masks in both passes."""
    cached = make_trainer(chunk=4)
    reference = copy.deepcopy(cached.model)
    batch = first_batch(cached)
    torch.manual_seed(7)
    cached.forward_backward(batch, 1.0)
    torch.manual_seed(7)  # the reference draws its masks in the same order: query chunks, then passage chunks
    # The same chunks as the cache's (each without the padding its rows share), so dropout draws the same masks.
    query = torch.cat([reference.query_encoder(**chunk) for chunk in chunks(batch.query, 4)])
    passage = torch.cat([reference.passage_encoder(**chunk) for chunk in chunks(batch.passage, 4)])
    loss, _ = in_batch_negatives_loss(query, passage, batch.positive_mask)
    loss.backward()
    expected, got = gradients(reference), gradients(cached.model)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-5, rtol=1e-4, msg=name)


def test_training_with_caching_reaches_the_same_weights():
    # Adam divides each gradient by its running size: where a gradient is ~0, rounding noise of 1e-9 becomes a full
    # step of either sign. A large epsilon keeps Adam's steps proportional to the gradient, so rounding stays small.
    plain = make_trainer(dropout=False, n_epochs=1, epsilon=1.0, learning_rate=0.03)
    cached = make_trainer(chunk=6, dropout=False, n_epochs=1, epsilon=1.0, learning_rate=0.03)
    initial = copy.deepcopy(plain.model.state_dict())
    plain_history, cached_history = plain.train(), cached.train()
    assert max((p - initial[n]).abs().max() for n, p in plain.model.state_dict().items()) > 1e-2  # it learned
    assert [s["loss"] for s in cached_history.steps] == pytest.approx(
        [s["loss"] for s in plain_history.steps], abs=1e-5
    )
    for (name, expected), got in zip(plain.model.state_dict().items(), cached.model.state_dict().values()):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4, msg=name)
