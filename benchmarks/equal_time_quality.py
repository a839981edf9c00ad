"""Quality for the same minutes: dpr_nb and sentence-transformers each train for the same wall-clock budget on this
machine, then rank held-out XQuAD questions; which tool's speed became a better model?

    python benchmarks/equal_time_quality.py                                   # 2, 5 and 10 minutes, 5 seeds
    python benchmarks/equal_time_quality.py --budgets 1 2 4 --seeds 42 43 44  # a shorter run
    python benchmarks/equal_time_quality.py --budgets 0.2 --seeds 42 --max-train-questions 64   # does it run?

A user does not train for a number of steps; they train for the minutes they have. So each tool is first timed
(--probe-steps optimizer steps after two to warm up, per tool, in this process), and each budget becomes the number
of steps that tool makes in it: `max_steps` for dpr_nb, `max_steps` of sentence-transformers' trainer, each tool's
schedule (warm-up over the first tenth, linear decay to zero) fitted to its own steps. Each run's training time
(from training's start to its last step's end: loading the model is not in it) then joins the tool's timing, so
the next run's plan is made from every step that tool has taken. The minutes each run really took are in the
table: the plan is checked, not assumed.

Everything else is each tool's own recipe, as retrieval_quality.py trains them (read its docstring): all-MiniLM-L6-v2,
batch 16, 1 BM25 hard negative, passages as "title [SEP] text" for both; dpr_nb with TrainConfig's defaults for this
checkpoint (one shared encoder, cosine similarity at temperature 0.05, learning rate 2e-5); sentence-transformers with
MultipleNegativesRankingLoss (scale 20) at 2e-5. XQuAD --language split by article, 20% of the articles held out
(221 questions in German); every held-out question ranks the language's 240 paragraphs (with --distractors, also the
2,845 Wikipedia passages of ../shared's DPR samples). Each seed trains both tools at every budget, the tools'
order alternating from seed to seed.

The target: dpr_nb ahead at every budget, on top-1/5/20 and MRR@10, by at least two standard errors of the seeds'
paired differences (retrieval_quality.paired: accuracies in questions).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import MINILM, cpu_name, print_table, write_json, xquad_dpr
from retrieval_quality import (
    KS,
    TARGET_METRICS,
    difference,
    distractors,
    evaluate_sentence_transformers,
    over_seeds,
    paired,
    standing,
    train_dpr_nb,
    train_sentence_transformers,
)

DPR_NB, SENTENCE_TRANSFORMERS = "dpr_nb", "sentence-transformers"
COLUMNS = [
    ("model", "tool", ""),
    ("seeds", "seeds", ""),
    ("steps", "steps", ".0f"),
    ("train_minutes", "training min", ".2f"),
    ("top_1_accuracy", "top-1", ".3f"),
    ("top_5_accuracy", "top-5", ".3f"),
    ("top_20_accuracy", "top-20", ".3f"),
    ("mrr_at_10", "MRR@10", ".3f"),
]


class Clock:
    """When training began and when each optimizer step ended (time.perf_counter), as each tool reports them."""

    def __init__(self):
        self.started, self.steps = None, []

    def start(self, *_) -> None:
        self.started = time.perf_counter()

    def mark(self, *_) -> None:
        self.steps.append(time.perf_counter())

    def seconds(self) -> float:
        """Training's wall-clock time: from its start to its last step's end (loading the model is not in it)."""
        return self.steps[-1] - self.started


def train(tool: str, steps: int, seed: int, data_dir: Path, args):
    """(the trained model or retriever, its Clock) after `steps` optimizer steps of `tool`'s recipe."""
    clock = Clock()
    if tool == DPR_NB:
        callbacks = {"on_train_start": clock.start, "on_step_end": clock.mark}
        return train_dpr_nb(args.model, data_dir, args, f"shared max_steps={steps}", seed, callbacks), clock
    return train_sentence_transformers(args.model, data_dir, args, seed, max_steps=steps, clock=clock), clock


def probe_seconds(tool: str, data_dir: Path, args) -> tuple[float, int]:
    """(seconds, steps) of --probe-steps steps after two first ones (which import modules and allocate), on all the
    training questions (a few would share their paragraphs, five questions to a paragraph in XQuAD, and dpr_nb
    encodes a batch's passage once: its steps would look cheap)."""
    _, clock = train(tool, args.probe_steps + 2, 0, data_dir, args)
    return clock.steps[-1] - clock.steps[1], args.probe_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(MINILM))
    parser.add_argument("--language", default="de")
    parser.add_argument("--budgets", nargs="+", type=float, default=[2, 5, 10], help="training minutes")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44, 45, 46])
    parser.add_argument("--probe-steps", type=int, default=8, help="steps timed per tool to plan each budget")
    parser.add_argument("--distractors", action="store_true", help="also rank ../shared's 2,845 DPR passages")
    parser.add_argument("--max-train-questions", type=int, default=None, help="train on the first N questions only")
    parser.add_argument("--json", default=None, help="default: benchmarks/results/equal_time_quality.json")
    args = parser.parse_args()
    args.epochs, args.learning_rate = 1, 2e-5  # what retrieval_quality's training functions read; max_steps rules

    from dpr_nb.data.dpr_file import load_dpr_file
    from dpr_nb.evaluation.corpus_eval import evaluate_corpus, load_corpus

    with tempfile.TemporaryDirectory() as folder:
        data_dir, counts = xquad_dpr(args.language, Path(folder) / args.language, test_fraction=0.2)
        test = load_dpr_file(data_dir / "test.json")
        corpus = load_corpus(data_dir / "passages.tsv") + (distractors() if args.distractors else [])
        # Each tool's time per step: first from its probe, then from all its runs so far, so that a plan that missed
        # its budget (a probe's batches shorter than most, a busy moment) is corrected from the next run on.
        timed = {tool: probe_seconds(tool, data_dir, args) for tool in (DPR_NB, SENTENCE_TRANSFORMERS)}
        print(
            f"XQuAD {args.language}: {counts['train']['questions']} training questions, {len(test)} held-out, corpus "
            f"{len(corpus)} passages; probed seconds per step: "
            + ", ".join(f"{tool} {seconds / steps:.2f}" for tool, (seconds, steps) in timed.items()),
            flush=True,
        )
        rows: dict[float, list[dict]] = {budget: [] for budget in args.budgets}
        for number, seed in enumerate(args.seeds):
            tools = (DPR_NB, SENTENCE_TRANSFORMERS) if number % 2 == 0 else (SENTENCE_TRANSFORMERS, DPR_NB)
            for budget in args.budgets:
                for tool in tools:
                    seconds, steps_timed = timed[tool]
                    steps = max(1, round(budget * 60 * steps_timed / seconds))
                    trained, clock = train(tool, steps, seed, data_dir, args)
                    timed[tool] = (seconds + clock.seconds(), steps_timed + steps)
                    result = (
                        evaluate_corpus(trained, test, corpus, ks=KS, batch_size=32)
                        if tool == DPR_NB
                        else evaluate_sentence_transformers(trained, test, corpus)
                    )
                    row = {"model": tool, "seed": seed, "steps": steps, "train_minutes": clock.seconds() / 60}
                    rows[budget].append({**row, **result.metrics})
                    print(
                        f"  {budget:g} min, seed {seed}, {tool}: {steps} steps in {row['train_minutes']:.2f} min, "
                        f"top-1 {result.metrics['top_1_accuracy']:.3f}, MRR@10 {result.metrics['mrr_at_10']:.3f}",
                        flush=True,
                    )
    seconds_per_step = {tool: seconds / steps for tool, (seconds, steps) in timed.items()}
    report(args, seconds_per_step, rows)


def report(args, seconds: dict, rows: dict[float, list[dict]]) -> None:
    tables, differences, standings, met = {}, {}, {}, {}
    for budget, budget_rows in rows.items():
        print(f"\n{budget:g} minutes of training, mean over seeds {args.seeds}:\n")
        tables[budget] = print_table(over_seeds(budget_rows), COLUMNS)
        found = paired(budget_rows, DPR_NB, SENTENCE_TRANSFORMERS)
        differences[budget] = found
        standings[budget] = {metric: standing(found[metric]) for metric in TARGET_METRICS}
        met[budget] = all(value == "ahead" for value in standings[budget].values())
        print(
            "\ndpr_nb minus sentence-transformers, seed by seed (standard error): "
            + ", ".join(f"{metric} {difference(d)} {standing(d) or 'not judged'}" for metric, d in found.items())
        )
    print(f"\ntarget: dpr_nb ahead by two standard errors on {TARGET_METRICS} at every budget: {met}")
    write_json(
        "equal_time_quality",
        {
            "machine": cpu_name(),
            "model": args.model,
            "language": args.language,
            "distractors": args.distractors,
            "budgets_minutes": args.budgets,
            "seeds": args.seeds,
            "seconds_per_step": seconds,
            "target_met": met,
            "standing": standings,
            "paired_differences": differences,
            "tables": tables,
            "results": rows,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
