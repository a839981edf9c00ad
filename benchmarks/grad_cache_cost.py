"""What gradient caching costs in time: a cached step against the same batch's uncached step.

    python benchmarks/grad_cache_cost.py                    # all-MiniLM-L6-v2, XQuAD English, batch 32, chunks of 16
    python benchmarks/grad_cache_cost.py --batch-size 64 --rounds 2

One process, one batch of XQuAD questions (1 BM25 hard negative each, lengths 64/256), dropout off so both steps
compute the same gradient. Each round times `Trainer.forward_backward` uncached, then cached, `--repeats` times each
after one warm-up call, and keeps each one's fastest; the ratio is taken within the round, and the median over
rounds is printed with the range. Theory: caching adds one forward pass without a graph to a forward and a backward
(about twice a forward), so about 4/3 = 1.33x. Memory is benchmarks/grad_cache.py's subject; this is only time.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

from common import MINILM, cpu_name, print_table, write_json, xquad_dpr


def step_seconds(model, settings: dict, items, chunk: int | None, repeats: int) -> float:
    from dpr_nb import TrainConfig
    from dpr_nb.training.trainer import Trainer

    config = TrainConfig(**settings, grad_cache_chunk_size=chunk, save_dir=None, dropout=0.0, device="cpu")
    trainer = Trainer(copy.deepcopy(model), config, [], progress_bar=False)
    batch = trainer.make_batch(items)
    trainer.forward_backward(batch, 1.0)  # warm-up: allocations, first-call setup
    times = []
    for _ in range(repeats):
        trainer.model.zero_grad(set_to_none=True)
        started = time.perf_counter()
        trainer.forward_backward(batch, 1.0)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(MINILM))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="default: benchmarks/results/grad_cache_cost.json")
    args = parser.parse_args()
    import torch

    from dpr_nb.data.dpr_file import BatchSampler
    from dpr_nb.data.splits import load_splits
    from dpr_nb.model.encoders import BiEncoder

    settings = dict(
        query_model=args.model,
        passage_model=args.model,
        share_encoders=False,  # DPR's two encoders, as the figures in docs/benchmarks.md were measured
        max_seq_len_query=64,
        max_seq_len_passage=256,
    )
    with tempfile.TemporaryDirectory() as folder:
        data_dir, _ = xquad_dpr("en", Path(folder) / "xquad-en")
        examples = load_splits(str(data_dir), "train.json")["train"]
        items = next(iter(BatchSampler(examples, args.batch_size, 1, 1, seed=0)))
    model = BiEncoder.from_pretrained(args.model, args.model)
    rounds = []
    for number in range(args.rounds):
        plain = step_seconds(model, settings, items, None, args.repeats)
        cached = step_seconds(model, settings, items, args.chunk, args.repeats)
        rounds.append({"uncached_s": plain, "cached_s": cached, "ratio": cached / plain})
        print(f"  round {number + 1}: uncached {plain:.2f} s, cached {cached:.2f} s, {cached / plain:.2f}x", flush=True)
    ratios = [r["ratio"] for r in rounds]
    row = {
        "batch": f"{args.batch_size} questions, chunks of {args.chunk}",
        "uncached_s": statistics.median(r["uncached_s"] for r in rounds),
        "cached_s": statistics.median(r["cached_s"] for r in rounds),
        "ratio": statistics.median(ratios),
        "range": f"{min(ratios):.2f}-{max(ratios):.2f}",
    }
    print(f"\n{cpu_name()}, {torch.get_num_threads()} thread(s), {args.model}\n")
    table = print_table(
        [row],
        [
            ("batch", "batch", ""),
            ("uncached_s", "uncached s/step", ".2f"),
            ("cached_s", "cached s/step", ".2f"),
            ("ratio", "cached / uncached", ".2f"),
            ("range", "rounds' range", ""),
        ],
    )
    met = row["ratio"] <= 1.4
    print(f"\ntarget: a cached step at most 1.4x the uncached one: {row['ratio']:.2f}x, {'met' if met else 'NOT met'}")
    write_json("grad_cache_cost", {"table": table, "target_met": met, "rounds": rounds, **row}, args.json)


if __name__ == "__main__":
    main()
