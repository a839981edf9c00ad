"""Gradient caching (GradCache, Gao et al. 2021): the exact gradient of a large batch in the memory of one chunk.

In-batch negatives make a batch's loss depend on every pair of its texts, so the batch cannot simply be cut into
pieces whose gradients add up (that is gradient accumulation, which gives each question fewer negatives). What can
be cut is the encoder's work. In three passes:

1. `embed`: every chunk of texts is encoded without a graph (little memory), remembering the random state each
   chunk started from, so that dropout can be replayed.
2. The caller computes the loss over the whole batch's embeddings and calls backward: it stops at the embeddings,
   whose `.grad` now holds d(loss)/d(embedding).
3. `backward`: each chunk is encoded again, with its graph and the same dropout, and backpropagates its slice of
   that gradient into the encoder. Summed over chunks, this is the whole batch's gradient, to rounding.

The price is one more forward pass without a graph (about a third of a step); the gain is a batch as large as the
loss's matrix allows, on a GPU that holds one chunk's activations.

    >>> import torch
    >>> encoder = torch.nn.Linear(3, 2)
    >>> inputs = {"x": torch.randn(5, 3)}
    >>> cache = GradCache(chunk_size=2, device=torch.device("cpu"))
    >>> cached = cache.embed(lambda x: encoder(x), inputs)            # (5, 2), no graph
    >>> (cached.embeddings ** 2).sum().backward()                     # the loss over the whole batch
    >>> cache.backward(lambda x: encoder(x), inputs, cached)          # gradients reach the encoder's weights
    >>> expected = torch.autograd.grad((encoder(inputs["x"]) ** 2).sum(), encoder.weight)[0]
    >>> torch.allclose(encoder.weight.grad, expected, atol=1e-6)
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch

from ..data.batches import trim_padding


@dataclass
class CachedEmbeddings:
    embeddings: torch.Tensor  # (texts, dim), a leaf that collects d(loss)/d(embedding) in .grad
    random_states: list[dict]  # the random state each chunk was encoded from


class GradCache:
    def __init__(self, chunk_size: int, device: torch.device, autocast: Callable = nullcontext):
        self.chunk_size, self.device, self.autocast = chunk_size, device, autocast

    def embed(self, encoder: Callable, inputs: dict[str, torch.Tensor]) -> CachedEmbeddings:
        """Pass 1: the embeddings of all `inputs`, a chunk at a time, without a graph."""
        pieces, states = [], []
        with torch.no_grad():
            for chunk in chunks(inputs, self.chunk_size):
                states.append(self._current_random_state())
                with self.autocast():
                    pieces.append(encoder(**chunk).float())  # (chunk, dim)
        return CachedEmbeddings(torch.cat(pieces).requires_grad_(), states)

    def backward(self, encoder: Callable, inputs: dict[str, torch.Tensor], cached: CachedEmbeddings) -> None:
        """Pass 3: each chunk again with its graph, backpropagating its slice of the cached embeddings' gradient."""
        if cached.embeddings.grad is None:
            raise RuntimeError("GradCache.backward: call backward on the loss over the cached embeddings first.")
        gradients = cached.embeddings.grad.split(self.chunk_size)
        for chunk, state, gradient in zip(chunks(inputs, self.chunk_size), cached.random_states, gradients):
            with self._random_state(state), self.autocast():
                chunk_embeddings = encoder(**chunk)  # (chunk, dim), as in pass 1: same inputs, same dropout
            chunk_embeddings.float().backward(gradient)

    def _current_random_state(self) -> dict:
        state = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    @contextmanager
    def _random_state(self, state: dict):
        """Run with the random state `state`, then continue the generator as if this block had not run."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.set_rng_state(state["cpu"])
            if "cuda" in state:
                torch.cuda.set_rng_state(state["cuda"], self.device)
            yield


def chunks(inputs: dict[str, torch.Tensor], size: int) -> Iterator[dict[str, torch.Tensor]]:
    """Consecutive slices of `size` rows of every tensor in `inputs`; token inputs without the padding their rows
    share (passages come longest first, so a chunk of short ones is short). Both passes see the same chunks."""
    count = next(iter(inputs.values())).shape[0]
    for start in range(0, count, size):
        chunk = {name: tensor[start : start + size] for name, tensor in inputs.items()}
        yield trim_padding(chunk) if "attention_mask" in chunk else chunk
