"""Training throughput (questions/s) and peak memory: dpr_nb against sentence-transformers on the same work.

    python benchmarks/training_throughput.py                 # all-MiniLM-L6-v2, XQuAD English, batch 16, 64/256
    python benchmarks/training_throughput.py --rounds 1 --steps 1 --max-seq-len-passage 64     # a quick check
    python benchmarks/training_throughput.py --batch-size 128 --chunk 16 --rounds 2 --steps 1  # gradient caching

The same step for every tool: all-MiniLM-L6-v2 (../shared/models), DPR records made from XQuAD English by
convert_squad, a seeded sample of (steps + 1) x 16 of its questions, each with its paragraph and 1 BM25 hard
negative; 16 questions and 32 passages a step, every question scored against all 32 (in-batch and hard negatives),
cosine similarity with scale 20 (temperature 0.05), AdamW at 2e-5 without warm-up, dynamic padding, float32 on a
CPU (autocast to bf16 or fp16 on a GPU, the same for both).

- dpr_nb: `Trainer`, DPR's two encoders (one for questions, one for passages), both from the model.
- dpr_nb, shared: the same with `share_encoders=True`, one encoder for both, as sentence-transformers trains.
- sentence-transformers: `SentenceTransformerTrainer` with `MultipleNegativesRankingLoss` on (anchor, positive,
  negative) columns. A passage is given as "title [SEP] text", which its tokenizer turns into the same tokens as
  dpr_nb's (title, text) pair. It has one max_seq_length, 256, for questions too: no XQuAD question comes near 64
  tokens (the script checks), so neither tool cuts one.

With --chunk, both tools cache gradients: dpr_nb with `grad_cache_chunk_size`, sentence-transformers with
`CachedMultipleNegativesRankingLoss(mini_batch_size=chunk)`; every question still sees the whole batch's passages.

Each measurement is a fresh process: load, 1 warm-up step (it allocates gradients and Adam's state), then --steps
timed steps, from one step's end to the next. Rounds alternate the tools, in reverse order every other round, so
a machine that slows down or speeds up (a shared CPU) weighs on every tool alike; the figure is the ratio of
questions/s to sentence-transformers' within each round, its median over rounds, printed with the lowest and
highest round beside it: a target is met when the median is, and the spread says how far to trust it.

Memory: on a GPU torch.cuda.max_memory_allocated; on a CPU the peak RSS, and the peak above the RSS after the
model and data were loaded (the imports and weights are not training's), with glibc's mmap threshold fixed so the
RSS follows what torch holds (benchmarks/common.py).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import (
    MINILM,
    comparable_config,
    device_name,
    mmap_malloc_env,
    peak_rss_mb,
    print_table,
    rss_mb,
    run_child,
    write_json,
    xquad_dpr,
)

TOOLS = ("dpr_nb", "dpr_nb, shared", "sentence-transformers")


def sample(settings: dict) -> list:
    """The same seeded questions for every tool: (steps + 1) batches' worth."""
    from dpr_nb.data.splits import load_splits

    examples = list(load_splits(settings["data_dir"], "train.json")["train"])
    needed = (settings["steps"] + 1) * settings["batch_size"]
    if len(examples) < needed:
        raise SystemExit(f"{len(examples)} questions: fewer than {needed} for {settings['steps'] + 1} steps")
    return random.Random(0).sample(examples, needed)


def precision_of(device) -> str:
    """TrainConfig's precision="auto", spelled out so sentence-transformers gets the same."""
    import torch

    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


class StepClock:
    """Wall time at the start and at every step's end; peak GPU memory reset once the model is loaded."""

    def __init__(self, device, batch_size: int):
        import torch

        self.device, self.batch_size, self.times = device, batch_size, []
        self.cuda = device.type == "cuda"
        if self.cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        self.baseline_mb = torch.cuda.memory_allocated(device) / 2**20 if self.cuda else rss_mb()

    def mark(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
        self.times.append(time.perf_counter())

    def result(self, steps: int, **extra) -> dict:
        import torch

        seconds = [b - a for a, b in zip(self.times, self.times[1:])][-steps:]  # the warm-up step left out
        peak = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.cuda else peak_rss_mb()
        return {
            "seconds_per_step": sum(seconds) / steps,
            "questions_per_second": self.batch_size * steps / sum(seconds),
            "peak_mb": peak,
            "above_baseline_mb": peak - self.baseline_mb,
            "device": device_name(self.device),
            "threads": torch.get_num_threads(),
            **extra,
        }


def dpr_nb_child(settings: dict) -> dict:
    from dpr_nb.model.encoders import BiEncoder
    from dpr_nb.training.trainer import Trainer, resolve_device

    device = resolve_device("auto")
    model = BiEncoder.from_pretrained(settings["model"], settings["model"]).to(device)
    examples = sample(settings)
    config = comparable_config(
        settings["model"],
        settings["max_seq_len_query"],
        settings["max_seq_len_passage"],
        batch_size=settings["batch_size"],
        grad_cache_chunk_size=settings["chunk"],
        precision=precision_of(device),
        share_encoders=settings["tool"] == "dpr_nb, shared",
    )
    clock = StepClock(device, settings["batch_size"])
    trainer = Trainer(model, config, examples, progress_bar=False)
    trainer.add_callback("on_train_start", lambda trainer: clock.mark())
    trainer.add_callback("on_step_end", lambda trainer, record: clock.mark())
    trainer.train()
    return clock.result(settings["steps"], parameters=sum(p.numel() for p in model.parameters()))


def sentence_transformers_child(settings: dict) -> dict:
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )
    from transformers import TrainerCallback

    from dpr_nb.training.trainer import resolve_device

    device = resolve_device("auto")
    model = SentenceTransformer(settings["model"], device=str(device))
    model.max_seq_length = settings["max_seq_len_passage"]
    examples = sample(settings)
    longest_question = max(len(model.tokenizer(e.question)["input_ids"]) for e in examples)
    if longest_question > settings["max_seq_len_query"]:
        raise SystemExit(
            f"a question has {longest_question} tokens: sentence-transformers would not cut it to "
            f"{settings['max_seq_len_query']} as dpr_nb does, so the work would differ"
        )
    as_text = lambda passage: f"{passage.title} [SEP] {passage.text}"  # noqa: E731
    dataset = Dataset.from_dict(
        {
            "anchor": [e.question for e in examples],
            "positive": [as_text(e.positives[0]) for e in examples],
            "negative": [as_text(e.hard_negatives[0]) for e in examples],
        }
    )
    precision = precision_of(device)
    if settings["chunk"]:
        loss = CachedMultipleNegativesRankingLoss(model, scale=20.0, mini_batch_size=settings["chunk"])
    else:
        loss = MultipleNegativesRankingLoss(model, scale=20.0)
    clock = StepClock(device, settings["batch_size"])

    class Clock(TrainerCallback):
        def on_train_begin(self, *args, **kwargs):
            clock.mark()

        def on_step_end(self, *args, **kwargs):
            clock.mark()

    with tempfile.TemporaryDirectory() as output_dir:
        arguments = SentenceTransformerTrainingArguments(
            output_dir=output_dir,
            per_device_train_batch_size=settings["batch_size"],
            max_steps=settings["steps"] + 1,
            learning_rate=2e-5,
            warmup_steps=0,
            lr_scheduler_type="linear",
            max_grad_norm=2.0,
            seed=42,
            logging_strategy="no",
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_drop_last=True,
            bf16=precision == "bf16",
            fp16=precision == "fp16",
            use_cpu=device.type == "cpu",
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=arguments,
            train_dataset=dataset,
            loss=loss,
            callbacks=[Clock()],
        )
        trainer.train()
    return clock.result(settings["steps"], parameters=sum(p.numel() for p in model.parameters()))


def child(settings: dict) -> dict:
    if settings["tool"] == "sentence-transformers":
        return sentence_transformers_child(settings)
    return dpr_nb_child(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(MINILM), help="a hub name or a local folder that both tools load")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement, after 1 warm-up step")
    parser.add_argument("--batch-size", type=int, default=16, help="questions per step")
    parser.add_argument(
        "--chunk", type=int, default=None, help="cache gradients, encoding this many texts at a time (both tools)"
    )
    parser.add_argument("--max-seq-len-query", type=int, default=64)
    parser.add_argument("--max-seq-len-passage", type=int, default=256)
    parser.add_argument(
        "--json",
        default=None,
        help="default: benchmarks/results/training_throughput.json (with --chunk: training_throughput_cached.json)",
    )
    args = parser.parse_args()
    caching = f" cached in chunks of {args.chunk}" if args.chunk else ""
    with tempfile.TemporaryDirectory() as folder:
        data_dir, counts = xquad_dpr("en", Path(folder) / "xquad-en")
        print(
            f"model: {args.model}\ndata: XQuAD English, {counts['train']['questions']} questions, "
            f"{counts['train']['passages']} paragraphs; "
            f"batch {args.batch_size}{caching}, 1 hard negative, "
            f"lengths {args.max_seq_len_query}/{args.max_seq_len_passage}; "
            f"{args.rounds} round(s) of {args.steps} timed steps after 1 warm-up step\n",
            flush=True,
        )
        measured = {tool: [] for tool in TOOLS}
        for round_number in range(args.rounds):
            order = TOOLS if round_number % 2 == 0 else TOOLS[::-1]
            for tool in order:
                settings = {
                    "tool": tool,
                    "model": args.model,
                    "data_dir": str(data_dir),
                    "steps": args.steps,
                    "batch_size": args.batch_size,
                    "chunk": args.chunk,
                    "max_seq_len_query": args.max_seq_len_query,
                    "max_seq_len_passage": args.max_seq_len_passage,
                }
                result = run_child(__file__, settings, env=mmap_malloc_env())
                measured[tool].append(result)
                print(
                    f"  round {round_number + 1}, {tool}: {result['questions_per_second']:.2f} questions/s, "
                    f"peak {result['peak_mb']:.0f} MB",
                    flush=True,
                )
    reference = measured["sentence-transformers"]
    rows = []
    for tool, results in measured.items():
        ratios = [r["questions_per_second"] / s["questions_per_second"] for r, s in zip(results, reference)]
        rows.append(
            {
                "tool": tool,
                "questions_per_second": statistics.median(r["questions_per_second"] for r in results),
                "seconds_per_step": statistics.median(r["seconds_per_step"] for r in results),
                "peak_mb": max(r["peak_mb"] for r in results),
                "above_baseline_mb": max(r["above_baseline_mb"] for r in results),
                "parameters_millions": results[0]["parameters"] / 1e6,
                "ratio": statistics.median(ratios),
                "ratio_range": f"{min(ratios):.2f}-{max(ratios):.2f}",
                "rounds": results,
            }
        )
    first = reference[0]
    print(
        f"\ndevice: {first['device']}, {first['threads']} thread(s); medians over {args.rounds} round(s); "
        f"memory: {'max_memory_allocated' if 'cuda' in first['device'].lower() else 'peak RSS'}\n"
    )
    table = print_table(
        rows,
        [
            ("tool", "tool", ""),
            ("questions_per_second", "questions/s", ".2f"),
            ("seconds_per_step", "s/step", ".2f"),
            ("peak_mb", "peak MB", ".0f"),
            ("above_baseline_mb", "training MB", ".0f"),
            ("parameters_millions", "trained params (M)", ".1f"),
            ("ratio", "speed vs sentence-transformers", ".2f"),
            ("ratio_range", "rounds' range", ""),
        ],
    )
    met = rows[0]["ratio"] >= 1.2 and rows[1]["ratio"] >= 1.2
    print(
        f"\n{'(set for batch 16 without caching) ' if args.chunk else ''}target: dpr_nb at least 1.2x "
        "sentence-transformers' throughput, with two encoders and with one shared: "
        f"{rows[0]['ratio']:.2f}x ({rows[0]['ratio_range']}) and {rows[1]['ratio']:.2f}x ({rows[1]['ratio_range']}), "
        f"{'met' if met else 'NOT met'}"
    )
    write_json(
        "training_throughput_cached" if args.chunk else "training_throughput",
        {
            "model": args.model,
            "batch_size": args.batch_size,
            "chunk": args.chunk,
            "num_hard_negatives": 1,
            "max_seq_len_query": args.max_seq_len_query,
            "max_seq_len_passage": args.max_seq_len_passage,
            "rounds": args.rounds,
            "steps": args.steps,
            "device": first["device"],
            "target_met": met,
            "table": table,
            "results": rows,
        },
        args.json,
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        import json

        print(json.dumps(child(json.loads(sys.argv[2]))))
    else:
        main()
