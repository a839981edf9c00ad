"""Peak memory and time per optimizer step of GradCache (TrainConfig.grad_cache_chunk_size) against plain batches.

    python benchmarks/grad_cache.py                                    # all-MiniLM-L6-v2, XQuAD English, 64/256
    python benchmarks/grad_cache.py --model bert-base-uncased          # on a GPU machine
    python benchmarks/grad_cache.py --model tiny --max-seq-len-passage 64 --steps 1   # a quick check

Three configurations on the same model and data, each trained in a fresh process so each peak is its own:

- batch 128, cached: 128 questions per step, encoded --chunk (16) texts at a time without a graph, the loss over the
  whole batch, then every chunk encoded again with its graph (Trainer.forward_backward).
- batch 128: the same step with the whole batch encoded at once.
- batch 16: the batch that fits the memory of one chunk, and its 15 other questions' passages as negatives.

Each process runs Trainer.train() for 1 warm-up step (it allocates the gradients and Adam's state) and --steps
measured steps, timed between the "on_step_end" callbacks. Data: DPR questions made from ../shared's XQuAD English
with convert_squad (paragraphs as passages, BM25 hard negatives), or the built-in dataset (--data builtin, and
whenever ../shared is absent).

Memory. On a GPU: torch.cuda.max_memory_allocated, its peak reset once the model is on the GPU; "above baseline"
subtracts what was allocated then (the weights). On the CPU: the peak RSS of the process (getrusage ru_maxrss) and
the peak above the RSS measured right after the model and the data were loaded (the torch import and the weights
are common to all three). Each child runs with MALLOC_MMAP_THRESHOLD_ fixed (--malloc mmap, the default on the CPU):
glibc otherwise raises its mmap threshold to the size of the largest block freed so far (up to 32 MB), after which
activations of that size come from its heap and stay in the RSS once freed; the fixed threshold returns every
block over 128 KB to the kernel when torch frees it, so the RSS follows what torch holds. --malloc default keeps
glibc's behaviour.

Time: seconds per measured step (wall), and the CPU time of the process in it: on a CPU shared with other work,
CPU s/step near s/step x threads means the process had the cores to itself; near s/step, that it had one.

Ratio: each configuration's peak above baseline over batch 16's. Target (the GradCache issue): batch 128 with
caching within 1.3x the peak memory of batch 16.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import MINILM as DEFAULT_MODEL
from common import XQUAD, device_name, mmap_malloc_env, rss_mb, write_json

XQUAD_EN = XQUAD / "xquad.en.json"
TARGET = 1.3


# ---------------------------------------------------------------------------------------------------------------
# The child: one configuration, one process


def measure(settings: dict) -> dict:
    import torch

    from dpr_nb import TrainConfig
    from dpr_nb.core.config import TINY_MODEL
    from dpr_nb.data.splits import load_splits
    from dpr_nb.model.encoders import BiEncoder
    from dpr_nb.training.trainer import Trainer, resolve_device

    model_name = TINY_MODEL if settings["model"] == "tiny" else settings["model"]
    model = BiEncoder.from_pretrained(model_name, model_name)
    data_dir, train_file = (settings["data_dir"], "train.json") if settings["data_dir"] else ("builtin", "")
    examples = list(load_splits(data_dir, train_file)["train"])
    # A seeded sample of the whole file: XQuAD lists its questions article by article, so its first 384 questions
    # would all be about a fifth of its paragraphs, and a batch would bring far fewer distinct passages.
    examples = random.Random(0).sample(examples, len(examples))
    batch_size, steps = settings["batch_size"], settings["steps"]
    # 1 warm-up step + `steps` measured ones, every one a full batch: one epoch of exactly that many questions, or
    # (a small dataset) one batch of questions repeated for as many epochs.
    if len(examples) >= (steps + 1) * batch_size:
        examples, epochs = examples[: (steps + 1) * batch_size], 1
    elif len(examples) >= batch_size:
        examples, epochs = examples[:batch_size], steps + 1
    else:
        raise SystemExit(f"{len(examples)} training questions: fewer than batch_size={batch_size}")
    config = TrainConfig(
        query_model=model_name,
        passage_model=model_name,
        share_encoders=False,  # DPR's two encoders, as the figures in docs/benchmarks.md were measured
        batch_size=batch_size,
        n_epochs=epochs,
        grad_cache_chunk_size=settings["chunk"],
        max_seq_len_query=settings["max_seq_len_query"],
        max_seq_len_passage=settings["max_seq_len_passage"],
        num_hard_negatives=settings["num_hard_negatives"],
        num_warmup_steps=0,
        evaluate_every=0,
        save_dir=None,
        device="auto",
        precision=settings["precision"],
    )
    device = resolve_device(config.device)
    cuda = device.type == "cuda"
    model.to(device)
    gc.collect()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        baseline_mb = torch.cuda.memory_allocated(device) / 2**20
    else:
        baseline_mb = rss_mb()
    trainer = Trainer(model, config, examples, progress_bar=False)

    shapes, times, cpu_times, faults = [], [], [], []

    def mark():
        # Wall time, CPU time of all this process's threads (wall x threads when nothing else competes for the
        # cores), and minor page faults (fresh pages the kernel had to zero: the cost of returning memory).
        times.append(time.perf_counter())
        cpu_times.append(time.process_time())
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)

    make_batch = trainer.make_batch

    def recording_make_batch(items):
        batch = make_batch(items)
        shapes.append(
            {
                "questions": batch.query["input_ids"].shape[0],
                "query_len": batch.query["input_ids"].shape[1],
                "passages": batch.passage["input_ids"].shape[0],
                "passage_len": batch.passage["input_ids"].shape[1],
            }
        )
        return batch

    def step_end(trainer, record):
        if cuda:
            torch.cuda.synchronize(device)
        mark()

    trainer.make_batch = recording_make_batch
    trainer.add_callback("on_train_start", lambda trainer: mark())
    trainer.add_callback("on_step_end", step_end)
    trainer.train()
    seconds = [b - a for a, b in zip(times, times[1:])]
    assert len(seconds) == steps + 1, (len(seconds), steps)
    measured = seconds[1:]  # the first step allocates the gradients and Adam's state, and warms up the kernels
    result = {
        "questions_per_step": sum(s["questions"] for s in shapes[1:]) / steps,
        "passages_per_step": sum(s["passages"] for s in shapes[1:]) / steps,
        "passage_len": max(s["passage_len"] for s in shapes),
        "query_len": max(s["query_len"] for s in shapes),
        "seconds_per_step": sum(measured) / steps,
        "seconds": measured,
        "warm_up_seconds": seconds[0],
        "cpu_seconds_per_step": (cpu_times[-1] - cpu_times[1]) / steps,
        "page_faults_per_step": (faults[-1] - faults[1]) / steps,
        "losses": [s["loss"] for s in trainer.history.steps],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux reports KB
        "rss_baseline_mb": baseline_mb if not cuda else None,
        "device": device_name(device),
        "precision": str(trainer.autocast_dtype).replace("torch.", "") if trainer.autocast_dtype else "float32",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if cuda:
        result.update(
            memory="cuda max_memory_allocated",
            peak_mb=torch.cuda.max_memory_allocated(device) / 2**20,
            baseline_mb=baseline_mb,
            max_reserved_mb=torch.cuda.max_memory_reserved(device) / 2**20,
        )
    else:
        result.update(memory="peak RSS", peak_mb=result["peak_rss_mb"], baseline_mb=baseline_mb)
    result["above_baseline_mb"] = result["peak_mb"] - result["baseline_mb"]
    return result


# ---------------------------------------------------------------------------------------------------------------
# The parent: data once, then one child per configuration


def make_data(args, folder: Path) -> tuple[str | None, str]:
    """(data_dir for the children or None for the built-in dataset, a description)."""
    if args.data == "xquad" and XQUAD_EN.is_file():
        from dpr_nb.tools.squad import convert_squad

        counts = convert_squad(
            XQUAD_EN, folder, dev_fraction=0, test_fraction=0, num_hard_negatives=args.num_hard_negatives
        )
        return str(folder), (
            f"XQuAD English via convert_squad: {counts['train']['questions']} questions, "
            f"{counts['train']['passages']} paragraphs"
        )
    reason = "" if args.data == "builtin" else f" ({XQUAD_EN} is absent)"
    return None, f"the built-in dataset{reason}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        default=str(DEFAULT_MODEL),
        help="a hub name or a local folder (both encoders start from it), or 'tiny' (dpr_nb's "
        "TINY_MODEL); default: ../shared/models/all-MiniLM-L6-v2",
    )
    parser.add_argument("--data", choices=("xquad", "builtin"), default="xquad")
    parser.add_argument("--chunk", type=int, default=16, help="grad_cache_chunk_size of the cached configuration")
    parser.add_argument("--batch-size", type=int, default=128, help="the large batch (with and without caching)")
    parser.add_argument("--small-batch-size", type=int, default=16, help="the small batch (without caching)")
    parser.add_argument("--max-seq-len-query", type=int, default=64)
    parser.add_argument("--max-seq-len-passage", type=int, default=256)
    parser.add_argument("--num-hard-negatives", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2, help="measured optimizer steps, after 1 warm-up step")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument(
        "--malloc",
        choices=("mmap", "default"),
        default="mmap",
        help="mmap: glibc returns every block over 128 KB to the kernel when freed, so the CPU's "
        "RSS follows what torch holds (see above); default: glibc's own settings",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=("cached", "plain", "small"),
        help="run only these configurations (repeatable); the ratio needs 'small'",
    )
    parser.add_argument("--json", default=None, help="default: benchmarks/results/grad_cache.json")
    args = parser.parse_args()
    if args.model == "tiny" and max(args.max_seq_len_query, args.max_seq_len_passage) > 128:
        # TINY_MODEL has 128 positions.
        args.max_seq_len_query, args.max_seq_len_passage = (
            min(128, args.max_seq_len_query),
            min(128, args.max_seq_len_passage),
        )
        print(f"--model tiny has 128 positions: lengths capped to {args.max_seq_len_query}/{args.max_seq_len_passage}")
    configurations = {
        "cached": (f"batch {args.batch_size}, cached (chunk {args.chunk})", args.batch_size, args.chunk),
        "plain": (f"batch {args.batch_size}", args.batch_size, None),
        "small": (f"batch {args.small_batch_size}", args.small_batch_size, None),
    }
    chosen = [key for key in configurations if not args.only or key in args.only]
    env = mmap_malloc_env() if args.malloc == "mmap" else dict(os.environ)
    with tempfile.TemporaryDirectory() as folder:
        data_dir, data_description = make_data(args, Path(folder))
        print(
            f"model: {args.model}\ndata: {data_description}\nlengths: query {args.max_seq_len_query}, passage "
            f"{args.max_seq_len_passage}; {args.num_hard_negatives} hard negative(s) per question; "
            f"{args.steps} measured step(s) after 1 warm-up step; malloc: {args.malloc}"
        )
        results = {}
        for key in chosen:
            name, batch_size, chunk = configurations[key]
            settings = {
                "model": args.model,
                "data_dir": data_dir,
                "batch_size": batch_size,
                "chunk": chunk,
                "steps": args.steps,
                "max_seq_len_query": args.max_seq_len_query,
                "max_seq_len_passage": args.max_seq_len_passage,
                "num_hard_negatives": args.num_hard_negatives,
                "precision": args.precision,
            }
            completed = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps(settings)], env=env, capture_output=True, text=True
            )
            if completed.returncode:
                sys.stderr.write(completed.stderr)
                raise SystemExit(f"{name}: the child process failed (exit status {completed.returncode})")
            results[name] = {
                "configuration": key,
                "batch_size": batch_size,
                "chunk": chunk,
                **json.loads(completed.stdout.strip().splitlines()[-1]),
            }
            print(f"  {name}: done, {results[name]['seconds_per_step']:.1f} s/step", flush=True)
    first = next(iter(results.values()))
    print(
        f"\ndevice: {first['device']}; precision: {first['precision']}; torch {first['torch']}, "
        f"{first['threads']} thread(s)\nmemory: {first['memory']}"
        + ("" if first["memory"] != "peak RSS" else " (baseline: RSS after loading the model and the data)")
    )
    small = results.get(configurations["small"][0])
    header = (
        f"{'configuration':<28}{'questions/step':>15}{'passages/step':>14}{'peak MB':>10}{'above base MB':>15}"
        f"{'s/step':>9}{'CPU s/step':>11}{'questions/s':>12}{'x batch ' + str(args.small_batch_size):>12}"
    )
    print(header)
    for name, r in results.items():
        r["ratio_to_small"] = r["above_baseline_mb"] / small["above_baseline_mb"] if small else None
        ratio = f"{r['ratio_to_small']:.2f}" if small else "-"
        print(
            f"{name:<28}{r['questions_per_step']:>15.0f}{r['passages_per_step']:>14.0f}{r['peak_mb']:>10.0f}"
            f"{r['above_baseline_mb']:>15.0f}{r['seconds_per_step']:>9.1f}{r['cpu_seconds_per_step']:>11.1f}"
            f"{r['questions_per_step'] / r['seconds_per_step']:>12.1f}{ratio:>12}"
        )
    cached = results.get(configurations["cached"][0])
    target_met = None
    if cached and small:
        target_met = cached["ratio_to_small"] <= TARGET
        print(
            f"\ntarget: batch {args.batch_size} cached within {TARGET}x batch {args.small_batch_size}'s peak above "
            f"baseline: {cached['ratio_to_small']:.2f}x, {'met' if target_met else 'NOT met'}"
        )
    summary = {
        "model": args.model,
        "data": data_description,
        "max_seq_len_query": args.max_seq_len_query,
        "max_seq_len_passage": args.max_seq_len_passage,
        "num_hard_negatives": args.num_hard_negatives,
        "steps": args.steps,
        "malloc": args.malloc,
        "target": TARGET,
        "target_met": target_met,
        "results": results,
    }
    write_json("grad_cache", summary, args.json)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(measure(json.loads(sys.argv[2]))))
    else:
        main()
