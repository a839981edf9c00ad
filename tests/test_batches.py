"""Batches as tensors: passages longest first and encoded without their shared padding, the same batch and vectors."""

import torch

from dpr_nb.data.batches import collate, length_groups, trim_padding
from dpr_nb.data.dpr_file import BatchSampler
from dpr_nb.data.splits import load_splits
from dpr_nb.model.encoders import BiEncoder, tiny_encoder


def batch_items(n=8):
    return next(iter(BatchSampler(load_splits("builtin", "")["train"], n, num_hard_negatives=2, seed=0)))


def test_longest_first_reorders_passages_and_their_mask_columns_only():
    encoder = tiny_encoder()
    items = batch_items()
    plain = collate(items, encoder.tokenizer, encoder.tokenizer, 32, 64, True)
    sorted_ = collate(items, encoder.tokenizer, encoder.tokenizer, 32, 64, True, longest_first=True)
    lengths = sorted_.passage["attention_mask"].sum(dim=1)
    assert torch.all(lengths[:-1] >= lengths[1:])  # longest first
    order = [plain.passage_keys.index(key) for key in sorted_.passage_keys]
    assert sorted(order) == list(range(len(order)))  # the same passages, each once
    assert torch.equal(sorted_.positive_mask, plain.positive_mask[:, order])  # the same answers: the same negatives
    assert torch.equal(sorted_.passage["input_ids"], plain.passage["input_ids"][order])
    assert torch.equal(sorted_.query["input_ids"], plain.query["input_ids"])  # questions keep their order


def test_groups_without_their_shared_padding_give_each_texts_own_vector():
    """The reference: every passage encoded alone, with no padding at all."""
    encoder = tiny_encoder()
    items = batch_items()
    batch = collate(items, encoder.tokenizer, encoder.tokenizer, 32, 64, True, longest_first=True)
    groups = length_groups(batch.passage, size=5)
    assert [g["input_ids"].shape[1] for g in groups] == [
        int(batch.passage["attention_mask"][i : i + 5].sum(dim=1).max()) for i in range(0, len(batch.passage_keys), 5)
    ]
    model = BiEncoder(encoder, tiny_encoder(seed=1)).eval()
    with torch.no_grad():
        _, grouped = model(batch.query, batch.passage)  # (passages, dim), in the trimmed groups it picks
        alone = torch.cat(
            [
                model.passage_encoder(**trim_padding({k: v[i : i + 1] for k, v in batch.passage.items()}))
                for i in range(len(batch.passage_keys))
            ]
        )
    assert torch.allclose(grouped, alone, atol=1e-5)


def test_trimming_keeps_every_token_whichever_side_the_padding_is_on():
    right = {
        "input_ids": torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]]),
        "attention_mask": torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]]),
    }
    left = {
        "input_ids": torch.tensor([[0, 0, 5, 6], [0, 0, 0, 7]]),
        "attention_mask": torch.tensor([[0, 0, 1, 1], [0, 0, 0, 1]]),
    }
    assert trim_padding(right)["input_ids"].tolist() == [[5, 6], [7, 0]]
    assert trim_padding(left)["input_ids"].tolist() == [[5, 6], [0, 7]]


def test_passages_of_one_length_go_through_in_one_group_and_mixed_lengths_in_several():
    """Each group is one more pass through the encoder: worth it only for the padding it leaves out."""
    encoder = tiny_encoder()
    cut = collate(batch_items(16), encoder.tokenizer, encoder.tokenizer, 32, 8, True, longest_first=True)
    count = len(cut.passage_keys)  # over 40: room for four groups of at least 8, had the lengths differed
    assert int(cut.passage["attention_mask"].sum(dim=1).min()) == 8  # every passage cut to 8 tokens
    assert [g["input_ids"].shape[0] for g in length_groups(cut.passage)] == [count]
    # 48 texts, the first half 256 tokens long and the second 4: trimming the short half saves far more than a pass.
    mask = torch.ones(48, 256, dtype=torch.long)
    mask[24:, 4:] = 0
    groups = length_groups({"input_ids": torch.ones_like(mask), "attention_mask": mask})
    assert [tuple(g["input_ids"].shape) for g in groups] == [(24, 256), (24, 4)]
