"""A batch of questions and passages as tensors: tokenised, padded to its longest text, with its answer mask.

`data.BatchSampler` chooses which questions and passages form a batch; `collate` turns them into what the encoders
read. Each passage enters once even when two questions bring it, and `positive_mask` says which passages answer which
question:

    query:   (B, query_len) token ids      -> the query encoder   -> (B, dim)
    passage: (P, passage_len) token ids    -> the passage encoder -> (P, dim), P <= B * (positives + hard negatives)
    positive_mask: (B, P) bool
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from .dpr_file import BatchSampler, DPRExample, Passage


@dataclass
class Batch:
    query: dict[str, torch.Tensor]  # input_ids, attention_mask, token_type_ids: (num_questions, query_len)
    passage: dict[str, torch.Tensor]  # the same for (num_passages, passage_len)
    positive_mask: torch.Tensor  # (num_questions, num_passages) bool: True where a passage answers a question
    # Passage.text_key of each passage, and of each question's positives: how processes of a multi-GPU run agree on
    # which gathered passage answers which question.
    passage_keys: list[str] = field(default_factory=list)
    positive_keys: list[frozenset[str]] = field(default_factory=list)

    def to(self, device) -> Batch:
        move = lambda d: {k: v.to(device) for k, v in d.items()}  # noqa: E731
        return Batch(
            move(self.query), move(self.passage), self.positive_mask.to(device), self.passage_keys, self.positive_keys
        )


def tokenize_queries(tokenizer, questions: list[str], max_length: int) -> dict[str, torch.Tensor]:
    encoded = tokenizer(questions, max_length=max_length, truncation=True, padding=True, return_tensors="pt")
    return _with_zero_token_types(encoded)


def tokenize_passages(
    tokenizer, titles: list[str], texts: list[str], max_length: int, embed_title: bool
) -> dict[str, torch.Tensor]:
    """`[CLS] title [SEP] text [SEP]` with embed_title (token types all 0, as the original DPR), else the text."""
    if embed_title:
        encoded = tokenizer(
            titles, texts, max_length=max_length, truncation="longest_first", padding=True, return_tensors="pt"
        )
    else:
        encoded = tokenizer(texts, max_length=max_length, truncation=True, padding=True, return_tensors="pt")
    return _with_zero_token_types(encoded)


def _with_zero_token_types(encoded) -> dict[str, torch.Tensor]:
    # DPR feeds title and text as one segment; padding is dynamic (to the longest in the batch, not max_length).
    tensors = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
    tensors["token_type_ids"] = torch.zeros_like(encoded["input_ids"])
    return tensors


def collate(
    items: Iterable[tuple[DPRExample, list[Passage], list[Passage]]],
    query_tokenizer,
    passage_tokenizer,
    max_seq_len_query: int,
    max_seq_len_passage: int,
    embed_title: bool,
    longest_first: bool = False,
) -> Batch:
    """The batch as tensors. `longest_first` orders the passages by length (their mask columns with them), so that
    consecutive passages can be encoded without most of their padding (`length_groups`): the same batch, the same
    negatives, less arithmetic."""
    items = list(items)
    # Each passage enters the batch once, even when two questions bring it (two questions about one article):
    # a copy would be a "negative" identical to the positive, which no model can rank below it.
    # A passage is its title and text here (Passage.text_key): the same text under two ids, or under one and none,
    # is one input, and a copy would be a negative no model can rank below the positive it equals.
    unique = {p.text_key: p for _, positives, negatives in items for p in (*positives, *negatives)}
    passages, keys = list(unique.values()), list(unique)
    # A passage counts as correct for a question if it is one of that question's positives, wherever it sits in
    # the batch: two questions sharing a gold passage must not be taught to push it away from each other.
    positive_keys = [frozenset(p.text_key for p in example.positives) for example, _, _ in items]
    passage = tokenize_passages(
        passage_tokenizer, [p.title for p in passages], [p.text for p in passages], max_seq_len_passage, embed_title
    )
    if longest_first:
        order = torch.argsort(passage["attention_mask"].sum(dim=1), descending=True, stable=True)  # (num_passages,)
        passage = {name: tensor[order] for name, tensor in passage.items()}
        keys = [keys[i] for i in order.tolist()]
    positive_mask = torch.tensor([[k in positives for k in keys] for positives in positive_keys])
    return Batch(
        query=tokenize_queries(query_tokenizer, [e.question for e, _, _ in items], max_seq_len_query),
        passage=passage,
        positive_mask=positive_mask,
        passage_keys=keys,
        positive_keys=positive_keys,
    )


def trim_padding(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same texts without the columns that are padding in every row: a group of short texts costs what they
    are long, not what the batch's longest is. Padding is masked out of attention and pooling, so the vectors are
    the same (to rounding)."""
    used = inputs["attention_mask"].bool().any(dim=0)  # (seq_len,): the columns some row needs
    if bool(used.all()):
        return inputs
    # A mask, not a slice: a tokenizer that pads on the left keeps its texts whole too.
    return {name: tensor[:, used] for name, tensor in inputs.items()}


def length_groups(inputs: dict[str, torch.Tensor], size: int | None = None) -> list[dict[str, torch.Tensor]]:
    """Consecutive groups of `size` rows, each trimmed to its longest text (rows sorted longest first trim most).

    By default the number of groups (1 to 4, at least 8 rows each) that computes the fewest tokens, counting each
    group after the first as GROUP_OVERHEAD tokens more: on a CPU most of the padding is gone by four, and each
    group is one more pass through the encoder's layers, so texts of about one length (all cut to
    max_seq_len_passage, say) go through in one."""
    count = inputs["input_ids"].shape[0]
    if size is None:
        size = group_size(inputs["attention_mask"].sum(dim=1).tolist())
    return [
        trim_padding({name: t[start : start + size] for name, t in inputs.items()}) for start in range(0, count, size)
    ]


# One more pass through the encoder costs about what this many more tokens would, on a CPU (measured:
# docs/benchmarks.md, "Training throughput", GROUP_OVERHEAD).
GROUP_OVERHEAD = 128


def group_size(lengths: list[int]) -> int:
    """The rows per group that `length_groups` uses for texts of these lengths (in the batch's order).

    >>> group_size([256] * 32)            # all one length: one group
    32
    >>> group_size([256] * 16 + [40] * 16)  # half long, half short: two groups
    16
    """
    count, padded = len(lengths), len(lengths) * max(lengths, default=0)
    best_size, best_cost = count, float(padded)
    for groups in (2, 3, 4):
        size = max(8, -(-count // groups))
        if size >= count:
            break
        starts = range(0, count, size)
        tokens = sum(len(lengths[start : start + size]) * max(lengths[start : start + size]) for start in starts)
        cost = tokens + GROUP_OVERHEAD * (len(starts) - 1)
        if cost < best_cost:
            best_size, best_cost = size, cost
    return best_size


def config_batch(items, model, config) -> Batch:
    """The batch a run of `config` (a TrainConfig: lengths, titles) makes of sampled items for `model` (a BiEncoder:
    its tokenizers), in training and evaluation alike. Longest passages first, so that BiEncoder.forward encodes them
    in groups of similar length and skips most of the padding."""
    tokenizers = (model.query_encoder.tokenizer, model.passage_encoder.tokenizer)
    lengths = (config.max_seq_len_query, config.max_seq_len_passage)
    return collate(items, *tokenizers, *lengths, config.embed_title, longest_first=True)


def evaluation_batches(examples: Sequence[DPRExample], model, config) -> list[Batch]:
    """The fixed batches a model is evaluated on (the report, dpr_nb.evaluation.report): no shuffling, each question's
    first positives and hard negatives, so that every evaluation of every model ranks the same candidates."""
    c = config
    sampler = BatchSampler(
        examples, c.eval_batch_size or c.batch_size, c.num_positives, c.num_hard_negatives, shuffle=False
    )
    return [config_batch(items, model, config) for items in sampler]
