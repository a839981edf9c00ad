"""The GPU check: what no CPU can test, in one command that takes a few minutes on a CUDA machine.

    python benchmarks/gpu_check.py      # on a CUDA machine: all four parts; on a CPU: what runs there, the rest
                                        # skipped with the reason (a 2-layer model, lengths 16/32)

1. precision: fp16 with the gradient scaler and bf16 against fp32 on one trained model (all-MiniLM-L6-v2, whose
   embeddings differ from text to text as a random network's [CLS] does not; without it, the random model pooled
   by mean) and batch: the loss and the gradient
   of one batch (relative error ||g - g32|| / ||g32||, the fp16 gradient unscaled), and the losses of 4 training
   steps; then gradient caching (batch 64 in chunks of 16) against the whole batch at once, in fp32 and bf16.
   On a CPU: fp32 against bf16 through the CPU's autocast (fp16 needs a GPU).
2. throughput: questions per second and peak GPU memory (torch.cuda.max_memory_allocated: weights, Adam's state and
   activations) of dpr_nb's Trainer at batch 16, 64 and 128 cached in chunks of 16, with DPR's two encoders and with
   one shared (as sentence-transformers trains), beside sentence-transformers
   with the same model, data and settings (MultipleNegativesRankingLoss, and its CachedMultipleNegativesRankingLoss
   with mini_batch_size 16 for the cached batch). precision "auto" for both: bf16 where the GPU has it, else fp16.
   The peer's step is its loss's forward and backward and AdamW's step in a plain loop, without its Trainer's data
   loader and callbacks, which could only add to its time. Each measurement: 2 warm-up steps, then --steps timed.
   Each row also gives the model FLOP utilisation (MFU) and the time of one epoch of NQ's 58,880 training
   questions at that speed. MFU: the model FLOPs of the questions trained per second (3 x the forward pass of each
   question's query, positive and hard negative: 2 x the encoder's weights per token, plus attention's 4 x layers x
   width x tokens squared, at each text's own length up to 64/256), over the GPU's dense bf16 peak (fp16 on a T4;
   PEAK_TFLOPS by the device's name, or --peak-tflops). The same FLOPs for both tools: a passage two questions of a
   batch share counts twice, though dpr_nb encodes it once; recomputation (gradient caching's second forward pass)
   counts nothing. Issue 32's goal on one H100: about 1,000 questions/s at batch 64, an NQ epoch in about a minute.
3. t4: batch 16 in fp16 (what precision "auto" picks on Colab's T4) with this process limited to 15 GB of the GPU
   (torch.cuda.set_per_process_memory_fraction), as on a T4.
4. encoding: passages per second of DensePassageRetriever's embedding (float32) beside SentenceTransformer.encode
   with the same batch size; where faiss has GPU support, building a flat index of them and searching it.

The model: BERT-base's shape (12 layers, 768 dimensions, 110 M parameters per encoder) with random weights and
bert-base-uncased's tokenizer (all-MiniLM-L6-v2's, the same vocabulary), so nothing is downloaded: speed, memory
and numerical agreement depend on the shape, not on the trained values. dpr_nb trains DPR's two encoders; both tools
use cosine similarity at scale 20 (temperature 0.05), AdamW at 2e-5, 1 hard negative, lengths 64/256, dropout off
for the precision checks. Data: XQuAD English as DPR records (dpr_nb.tools.squad.convert_squad), else the built-in set.

Writes benchmarks/results/gpu_check.json (or --json).
"""

from __future__ import annotations

import argparse
import copy
import gc
import random
import sys
import tempfile
import time
from pathlib import Path

from common import MINILM, XQUAD, comparable_config, device_name, print_table, write_json

CHUNK = 16
NQ_TRAIN_QUESTIONS = 58_880
# Dense bf16 tensor-core peaks (fp16 on the T4, which has no bf16), TFLOP/s, by a piece of torch's device name; the
# first match wins, so the longer names come first.
PEAK_TFLOPS = {
    "H100 PCIe": 756.0,
    "H100": 989.0,  # SXM; the NVL is 835
    "H200": 989.0,
    "A100": 312.0,
    "L4": 121.0,
    "T4": 65.0,
}


def peak_tflops(name: str, given: float | None) -> float | None:
    return given or next((peak for piece, peak in PEAK_TFLOPS.items() if piece in name), None)


def flops_per_question(folder: str, examples, lengths) -> float:
    """Training FLOPs of one question of `examples` (their mean): 3 x the forward pass of its query, positive and
    hard negative, each at its own length up to `lengths` (queries, passages), as the module docstring says."""
    from transformers import AutoConfig, AutoTokenizer

    config, tokenizer = AutoConfig.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    width, layers = config.hidden_size, config.num_hidden_layers
    per_token = 2 * layers * (4 * width * width + 2 * width * config.intermediate_size)  # attention and MLP weights

    def forward(tokens: int) -> float:
        return per_token * tokens + 4 * layers * width * tokens * tokens

    total = 0.0
    for example in examples:
        total += forward(min(lengths[0], len(tokenizer(example.question)["input_ids"])))
        for passage in (example.positives[0], example.hard_negatives[0]):
            total += forward(min(lengths[1], len(tokenizer(passage.title, passage.text)["input_ids"])))
    return 3 * total / len(examples)


def environment(args):
    """(device, model folder, examples, lengths), the model built in a temporary folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from dpr_nb.core.config import auto_device
    from dpr_nb.data.splits import load_splits
    from dpr_nb.model.encoders import tiny_encoder
    from dpr_nb.tools.squad import convert_squad

    cuda = auto_device() == "cuda"
    device = torch.device("cuda" if cuda else "cpu")
    folder = Path(args.work) / "bert-base-shaped"
    tokenizer_dir = Path(args.tokenizer)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir) if tokenizer_dir.is_dir() else tiny_encoder().tokenizer
    size = {} if cuda else dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tokenizer), **size), add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    xquad = Path(args.xquad)
    if xquad.is_file():
        convert_squad(xquad, Path(args.work) / "data", dev_fraction=0.0, test_fraction=0.0, num_hard_negatives=1)
        examples = list(load_splits(Path(args.work) / "data", "train.json")["train"])
    else:
        examples = list(load_splits("builtin", "")["train"])
    random.Random(0).shuffle(examples)
    lengths = (64, 256) if cuda else (16, 32)  # on a CPU, a dry run of every part: short texts keep it quick
    return device, str(folder), examples, lengths


def config_for(folder: str, lengths, **settings):
    return comparable_config(folder, *lengths, seed=0, **settings)


def free_memory():
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


# ---------------------------------------------------------------------------------------------------------------
# 1. precision


def one_batch_gradient(master, config, examples, device, batch_size: int):
    """(loss, flattened float32 gradient) of the first batch, the fp16 gradient unscaled."""
    import torch

    from dpr_nb.data.dpr_file import BatchSampler
    from dpr_nb.training.trainer import Trainer

    model = copy.deepcopy(master).to(device)
    trainer = Trainer(model, config, examples, progress_bar=False)
    items = next(iter(BatchSampler(examples, batch_size, 1, 1, seed=0)))
    loss = trainer.forward_backward(trainer.make_batch(items).to(device), 1.0)
    scale = trainer.scaler.get_scale() if trainer.scaler else 1.0
    gradient = torch.cat([p.grad.float().flatten() / scale for p in model.parameters() if p.grad is not None])
    del model, trainer
    return loss, gradient.cpu()


def relative_error(value, reference) -> float:
    return float((value - reference).norm() / reference.norm())


def precision_model(folder: str, trained: str):
    """(model, what it is): the trained checkpoint if it is a folder here, else the random model pooled by mean.
    A random network's [CLS] is about the same vector for every text (dpr_nb's tiny model pools by mean for that
    reason), so every passage scores about alike and bf16's rounding of near-equal scores swamps the gradient: 5.6%
    off fp32's with [CLS] on the CPU, 0.08% by mean (all-MiniLM-L6-v2: 1.3% on the H200)."""
    from dpr_nb.model.encoders import BiEncoder

    if Path(trained).is_dir():
        return BiEncoder.from_pretrained(trained, trained).float(), trained  # a checkpoint stored in fp16: fp32
    model = BiEncoder.from_pretrained(folder, folder)
    for encoder in (model.query_encoder, model.passage_encoder):
        encoder.pooling = "mean"
    return model, "the random model, pooled by mean"


def precision_part(device, master, folder, examples, lengths) -> list[dict]:
    import torch

    from dpr_nb.training.trainer import Trainer

    base = config_for(folder, lengths, dropout=0.0)
    precisions = ["fp32", "bf16"] + (["fp16"] if device.type == "cuda" else [])
    rows, reference = [], {}
    for precision in precisions:
        config = base.replace(precision=precision)
        loss, gradient = one_batch_gradient(master, config, examples, device, 16)
        model = copy.deepcopy(master).to(device)
        steps = [s["loss"] for s in Trainer(model, config, examples[:64], progress_bar=False).train().steps]
        del model
        free_memory()
        if precision == "fp32":
            reference = {"loss": loss, "gradient": gradient, "steps": steps}
        row = {
            "check": f"{precision} vs fp32",
            "loss": loss,
            "loss_error": abs(loss - reference["loss"]) / abs(reference["loss"]),
            "gradient_error": relative_error(gradient, reference["gradient"]),
            "finite": bool(torch.isfinite(gradient).all()),
            "steps_error": max(abs(a - b) / abs(b) for a, b in zip(steps, reference["steps"])),
            "steps": steps,
        }
        row["tolerance"] = 0.0 if precision == "fp32" else 0.05
        rows.append(row)
    for precision in ["fp32", "bf16"]:
        config = base.replace(precision=precision, batch_size=64)
        whole_loss, whole = one_batch_gradient(master, config, examples, device, 64)
        cached_loss, cached = one_batch_gradient(
            master, config.replace(grad_cache_chunk_size=CHUNK), examples, device, 64
        )
        free_memory()
        rows.append(
            {
                "check": f"cached vs whole batch 64, {precision}",
                "loss": cached_loss,
                "loss_error": abs(cached_loss - whole_loss) / abs(whole_loss),
                "gradient_error": relative_error(cached, whole),
                "finite": bool(torch.isfinite(cached).all()),
                "tolerance": 1e-4 if precision == "fp32" else 0.05,
            }
        )
    for row in rows:
        errors = [row["loss_error"], row["gradient_error"], row.get("steps_error", 0.0)]
        row["passed"] = row["finite"] and all(e <= max(row["tolerance"], 1e-12) for e in errors)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# 2. throughput, 3. the T4's memory


class Clock:
    def __init__(self, device):
        self.device, self.times = device, []

    def mark(self, *args) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.times.append(time.perf_counter())

    def step_seconds(self) -> list[float]:
        return [round(b - a, 4) for a, b in zip(self.times, self.times[1:])]

    def questions_per_second(self, batch_size: int, warmup: int) -> float:
        timed = self.times[warmup:]
        return batch_size * (len(timed) - 1) / (timed[-1] - timed[0])


def peak_gb(device) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def dpr_nb_run(
    device, folder, examples, lengths, batch_size, chunk, steps, warmup, precision="auto", share_encoders=False
) -> dict:
    from dpr_nb.model.encoders import BiEncoder
    from dpr_nb.training.trainer import Trainer

    free_memory()
    model = BiEncoder.from_pretrained(folder, folder).to(device)
    config = config_for(
        folder,
        lengths,
        batch_size=batch_size,
        grad_cache_chunk_size=chunk,
        precision=precision,
        share_encoders=share_encoders,
    )
    clock = Clock(device)
    trainer = Trainer(model, config, examples[: (steps + warmup) * batch_size], progress_bar=False)
    trainer.add_callback("on_step_end", clock.mark)
    trainer.train()
    result = {
        "questions_per_second": clock.questions_per_second(batch_size, warmup),
        "peak_gb": peak_gb(device),
        "precision": str(trainer.autocast_dtype or "float32").replace("torch.", ""),
        "step_seconds": clock.step_seconds(),
    }
    del model, trainer
    return result


def sentence_transformers_run(device, folder, examples, lengths, batch_size, chunk, steps, warmup) -> dict:
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.losses import (
            CachedMultipleNegativesRankingLoss,
            MultipleNegativesRankingLoss,
        )
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.losses import CachedMultipleNegativesRankingLoss, MultipleNegativesRankingLoss

    free_memory()
    model = SentenceTransformer(folder, device=str(device))
    model.max_seq_length = lengths[1]
    loss_function = (
        CachedMultipleNegativesRankingLoss(model, scale=20.0, mini_batch_size=chunk)
        if chunk
        else MultipleNegativesRankingLoss(model, scale=20.0)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    as_text = lambda passage: f"{passage.title} [SEP] {passage.text}"  # noqa: E731  the same tokens as dpr_nb's pair
    clock = Clock(device)
    model.train()
    for step in range(steps + warmup):
        batch = examples[step * batch_size : (step + 1) * batch_size]
        columns = (
            [e.question for e in batch],
            [as_text(e.positives[0]) for e in batch],
            [as_text(e.hard_negatives[0]) for e in batch],
        )
        tokenize = getattr(model, "preprocess", None) or model.tokenize  # preprocess: sentence-transformers >= 6
        features = [
            {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in tokenize(texts).items()}
            for texts in columns
        ]
        with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
            loss = loss_function(features, None)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        clock.mark()
    result = {
        "questions_per_second": clock.questions_per_second(batch_size, warmup),
        "peak_gb": peak_gb(device),
        "step_seconds": clock.step_seconds(),
    }
    del model, optimizer, loss_function
    return result


def throughput_part(device, folder, examples, lengths, steps: int, warmup: int, peak: float | None) -> list[dict]:
    rows = []
    flops = flops_per_question(folder, examples[: (steps + warmup) * 128], lengths)
    print(f"  {flops / 1e9:.0f} GFLOPs per question trained; peak {peak or '?'} TFLOP/s", flush=True)
    for batch_size, chunk in ((16, None), (64, None), (128, CHUNK)):
        needed = (steps + warmup) * batch_size
        if len(examples) < needed:
            print(f"  batch {batch_size}: {len(examples)} questions are fewer than {needed}; skipped")
            continue
        for tool, run in (
            ("dpr_nb", dpr_nb_run),
            ("dpr_nb, shared", dpr_nb_run),
            ("sentence-transformers", sentence_transformers_run),
        ):
            options = {"share_encoders": True} if tool == "dpr_nb, shared" else {}
            result = run(device, folder, examples, lengths, batch_size, chunk, steps, warmup, **options)
            result["mfu"] = result["questions_per_second"] * flops / (peak * 1e12) if peak else None
            result["nq_epoch_minutes"] = NQ_TRAIN_QUESTIONS / result["questions_per_second"] / 60
            rows.append({"tool": tool, "batch": batch_size, "chunk": chunk or "-", **result})
            print(
                f"  batch {batch_size}{f' cached in {chunk}' if chunk else ''}, {tool}: "
                f"{result['questions_per_second']:.1f} questions/s, peak {result['peak_gb'] or 0:.2f} GB, steps "
                f"{result['step_seconds']} s",
                flush=True,
            )
    return rows


def t4_part(device, folder, examples) -> dict:
    import torch

    from dpr_nb.training.trainer import TrainingMemoryError

    limit = 15e9  # a T4's 15 GB
    fraction = limit / torch.cuda.get_device_properties(device).total_memory
    free_memory()
    torch.cuda.set_per_process_memory_fraction(fraction, torch.cuda.current_device())
    try:
        result = dpr_nb_run(device, folder, examples, (64, 256), 16, None, steps=3, warmup=1, precision="fp16")
        result["fits"] = True
    except (TrainingMemoryError, torch.OutOfMemoryError) as error:
        result = {"fits": False, "error": str(error)[:300]}
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, torch.cuda.current_device())
    return {"limit_gb": limit / 2**30, **result}


def profile(device, folder, examples, lengths, path: Path) -> None:
    """torch.profiler's operators of 3 dpr_nb steps at batch 16, by total CPU time (where a step's time goes)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    with profiler(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as recorded:
        dpr_nb_run(device, folder, examples, lengths, 16, None, steps=2, warmup=1)
    table = recorded.key_averages().table(sort_by="cpu_time_total", row_limit=25, max_name_column_width=60)
    path.write_text(table)
    print(table[:6000])


# ---------------------------------------------------------------------------------------------------------------
# 4. corpus encoding and FAISS


def encoding_part(device, folder, examples, lengths, count: int, batch_size: int = 128) -> dict:
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from dpr_nb import DensePassageRetriever, Document

    paragraphs = list({p.text: p for e in examples for p in e.positives}.values())
    documents = [
        Document(
            content=paragraphs[i % len(paragraphs)].text,
            id=str(i),
            meta={"name": paragraphs[i % len(paragraphs)].title},
        )
        for i in range(count)
    ]
    free_memory()
    retriever = DensePassageRetriever(
        query_embedding_model=folder,
        passage_embedding_model=folder,
        max_seq_len_query=lengths[0],
        max_seq_len_passage=lengths[1],
        use_gpu=device.type == "cuda",
        batch_size=batch_size,
        progress_bar=False,
    )
    retriever.embed_documents(documents[:batch_size])  # warm-up
    clock = Clock(device)
    clock.mark()
    embeddings = retriever.embed_documents(documents)
    clock.mark()
    result = {
        "passages": count,
        "batch": batch_size,
        "dpr_nb_passages_per_second": count / (clock.times[1] - clock.times[0]),
    }
    del retriever
    free_memory()
    model = SentenceTransformer(folder, device=str(device))
    model.max_seq_length = lengths[1]
    texts = [f"{d.meta['name']} [SEP] {d.content}" for d in documents]
    model.encode(texts[:batch_size], batch_size=batch_size)
    clock = Clock(device)
    clock.mark()
    model.encode(texts, batch_size=batch_size)
    clock.mark()
    result["sentence_transformers_passages_per_second"] = count / (clock.times[1] - clock.times[0])
    del model
    try:
        import faiss
    except ImportError:
        result["faiss"] = "skipped: faiss is not installed here"
        return result
    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        result["faiss"] = "skipped: this faiss has no GPU support (faiss-cpu)"
        return result
    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    started = time.perf_counter()
    index = faiss.GpuIndexFlatIP(faiss.StandardGpuResources(), vectors.shape[1])
    index.add(vectors)
    built = time.perf_counter()
    index.search(vectors[:1000], 100)
    torch.cuda.synchronize()
    result["faiss"] = {"build_seconds": built - started, "search_1000_top100_seconds": time.perf_counter() - built}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", default=str(MINILM), help="a folder with bert-base-uncased's tokenizer")
    parser.add_argument("--xquad", default=str(XQUAD / "xquad.en.json"))
    parser.add_argument(
        "--precision-model",
        default=str(MINILM),
        help="the trained model of the precision checks (if absent: the random one, pooled by mean)",
    )
    parser.add_argument("--steps", type=int, default=5, help="timed steps per throughput measurement")
    parser.add_argument("--passages", type=int, default=20000, help="passages encoded (on a CPU: 500)")
    parser.add_argument("--json", default=None, help="default: benchmarks/results/gpu_check.json")
    parser.add_argument(
        "--profile",
        default=None,
        metavar="FILE",
        help="also profile dpr_nb's steps at batch 16 and write torch.profiler's table to FILE",
    )
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, if PEAK_TFLOPS lacks its name"
    )
    args = parser.parse_args()
    import torch

    from dpr_nb.training.trainer import Trainer  # noqa: F401  (the package imports before the clock starts)

    started = time.perf_counter()
    summary = {}
    with tempfile.TemporaryDirectory() as work:
        args.work = work
        device, folder, examples, lengths = environment(args)
        name = device_name(device)
        summary.update(device=name, torch=torch.__version__, questions=len(examples), lengths=lengths)
        print(f"device: {name}; torch {torch.__version__}; {len(examples)} questions; lengths {lengths}\n")
        print("1. precision", flush=True)
        master, summary["precision_model"] = precision_model(folder, args.precision_model)
        print(f"model: {summary['precision_model']}", flush=True)
        summary["precision"] = precision_part(device, master, folder, examples, lengths)
        print_table(
            summary["precision"],
            [
                ("check", "check", ""),
                ("loss", "loss", ".4f"),
                ("loss_error", "loss rel. error", ".1e"),
                ("gradient_error", "gradient rel. error", ".1e"),
                ("steps_error", "4 steps' losses, max rel. error", ".1e"),
                ("tolerance", "tolerance", ".0e"),
                ("passed", "passed", ""),
            ],
        )
        if device.type == "cuda":
            print("\n2. throughput", flush=True)
            summary["peak_tflops"] = peak = peak_tflops(name, args.peak_tflops)
            summary["throughput"] = throughput_part(device, folder, examples, lengths, args.steps, 2, peak)
            if args.profile:
                profile(device, folder, examples, lengths, Path(args.profile))
            print_table(
                summary["throughput"],
                [
                    ("tool", "tool", ""),
                    ("batch", "batch", ""),
                    ("chunk", "chunk", ""),
                    ("questions_per_second", "questions/s", ".1f"),
                    ("mfu", "MFU", ".3f"),
                    ("nq_epoch_minutes", "NQ epoch (min)", ".1f"),
                    ("peak_gb", "peak GB", ".2f"),
                ],
            )
            print("\n3. t4", flush=True)
            summary["t4"] = t4_part(device, folder, examples)
            print(summary["t4"])
        else:
            summary["throughput"] = summary["t4"] = "skipped: no CUDA GPU here"
            print(f"\n2. throughput, 3. t4: {summary['t4']}")
        print("\n4. encoding", flush=True)
        count = args.passages if device.type == "cuda" else min(args.passages, 500)
        summary["encoding"] = encoding_part(device, folder, examples, lengths, count)
        print(summary["encoding"])
    summary["seconds"] = time.perf_counter() - started
    print(f"\n{summary['seconds']:.0f} s")
    write_json("gpu_check", summary, args.json)
    failed = [row["check"] for row in summary["precision"] if not row["passed"]]
    if failed:
        raise SystemExit(f"precision checks beyond tolerance: {failed}")


if __name__ == "__main__":
    sys.exit(main())
