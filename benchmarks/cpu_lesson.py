"""The course's CPU mode: how much all-MiniLM-L6-v2 learns from one epoch of XQuAD German, and where its memory goes
(it must fit Binder's 2 GB with the Jupyter server beside it).

Quality: the lesson's recipe (batch 16, lengths 32/128, 1 hard negative, gradient caching in chunks of 8, the
checkpoint's own similarity, temperature and rate) for one epoch over all the training split's questions (38
articles), then every test question (the other 10 articles) ranks all 240 paragraphs: top-k before and after.

Memory:
Each row is one training in a fresh process, as a notebook kernel runs it (glibc's default allocator settings): the
resident memory after importing torch, transformers and dpr_nb, after loading the model, and the peak over the run,
with the seconds per optimizer step. The rows differ only in gradient caching: without it, backpropagation keeps
the activations of every text of the batch (16 questions and up to 32 passages of 128 tokens); with it, those of
one chunk at a time, for one more forward pass.

    python benchmarks/cpu_lesson.py                 # quality (about 8 minutes), then memory (160 questions a row, 4)
    python benchmarks/cpu_lesson.py --questions 16 --no-quality   # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import MINILM, cpu_name, peak_rss_mb, print_table, rss_mb, run_child, write_json, xquad_dpr

CHUNKS = (None, 16, 8)
KS = (1, 5, 20)


def quality(data_dir: str) -> dict:
    from dpr_nb import DensePassageRetriever, TrainConfig
    from dpr_nb.data.dpr_file import load_dpr_file
    from dpr_nb.evaluation.corpus_eval import evaluate_corpus, load_corpus

    config = TrainConfig(
        query_model=str(MINILM),
        passage_model=str(MINILM),
        data_dir=data_dir,
        train_filename="train.json",
        dev_split=0.0,
        batch_size=16,
        max_seq_len_query=32,
        max_seq_len_passage=128,
        num_hard_negatives=1,
        n_epochs=1,
        evaluate_every=0,
        save_dir=None,
        grad_cache_chunk_size=8,
    )
    test, corpus = list(load_dpr_file(Path(data_dir) / "test.json")), load_corpus(Path(data_dir) / "passages.tsv")
    retriever = DensePassageRetriever.from_config(config, progress_bar=False)
    before = evaluate_corpus(retriever, test, corpus, ks=KS).metrics
    began = time.perf_counter()
    history = retriever.train(config=config)
    seconds = time.perf_counter() - began
    after = evaluate_corpus(retriever, test, corpus, ks=KS).metrics
    return {
        "questions": len(test),
        "passages": len(corpus),
        "steps": len(history.steps),
        "train_s": seconds,
        **{f"before_top_{k}": before[f"top_{k}_accuracy"] for k in KS},
        **{f"after_top_{k}": after[f"top_{k}_accuracy"] for k in KS},
    }


def child(settings: dict) -> dict:
    if settings.get("quality"):
        return quality(settings["data_dir"])
    started = rss_mb()
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from dpr_nb import DensePassageRetriever, TrainConfig

    imported = rss_mb()
    config = TrainConfig(
        query_model=str(MINILM),
        passage_model=str(MINILM),
        data_dir=settings["data_dir"],
        train_filename="train.json",
        dev_split=0.0,
        max_samples=settings["questions"],
        batch_size=16,
        max_seq_len_query=32,
        max_seq_len_passage=128,
        num_hard_negatives=1,
        n_epochs=1,
        evaluate_every=0,
        save_dir=None,
        grad_cache_chunk_size=settings["chunk"],
    )
    retriever = DensePassageRetriever.from_config(config, progress_bar=False)
    loaded = rss_mb()
    began = time.perf_counter()
    history = retriever.train(config=config)
    seconds = time.perf_counter() - began
    return {
        "start_mb": started,
        "imported_mb": imported,
        "model_mb": loaded,
        "peak_mb": peak_rss_mb(),
        "steps": len(history.steps),
        "s_per_step": seconds / len(history.steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=160)
    parser.add_argument("--no-quality", dest="quality", action="store_false")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    summary = {"machine": cpu_name()}
    with tempfile.TemporaryDirectory() as folder:
        data_dir, _ = xquad_dpr("de", Path(folder) / "de", test_fraction=0.2, num_hard_negatives=1)
        if args.quality:
            result = run_child(__file__, {"data_dir": str(data_dir), "quality": True})
            summary["quality"] = result
            print(
                f"\n{cpu_name()}; one epoch, {result['steps']} steps in {result['train_s']:.0f} s; "
                f"{result['questions']} test questions rank {result['passages']} paragraphs\n"
            )
            print_table(
                [{"when": when, **{f"top_{k}": result[f"{when}_top_{k}"] for k in KS}} for when in ("before", "after")],
                [("when", "", ""), *[(f"top_{k}", f"top-{k}", ".3f") for k in KS]],
            )
        rows = []
        for chunk in CHUNKS:
            result = run_child(__file__, {"data_dir": str(data_dir), "questions": args.questions, "chunk": chunk})
            rows.append({"caching": "none" if chunk is None else f"chunks of {chunk}", **result})
            print(rows[-1], file=sys.stderr)
    print(f"\n{cpu_name()}; {args.questions} XQuAD German questions, batch 16, lengths 32/128, 1 hard negative\n")
    print_table(
        rows,
        [
            ("caching", "gradient caching", ""),
            ("imported_mb", "imports MB", ".0f"),
            ("model_mb", "model loaded MB", ".0f"),
            ("peak_mb", "peak MB", ".0f"),
            ("s_per_step", "s/step", ".2f"),
        ],
    )
    write_json("cpu_lesson", {**summary, "questions": args.questions, "rows": rows})


if __name__ == "__main__":
    main()
