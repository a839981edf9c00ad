"""Every benchmark, one after another: each prints its table and writes benchmarks/results/NAME.json.

    python benchmarks/run_all.py                  # the full set, about three hours on a 2-core CPU
    python benchmarks/run_all.py --quick          # every script on a small setting, a few minutes: do they run?
    python benchmarks/run_all.py --only training_throughput corpus_encoding

They run one at a time, never side by side: two benchmarks on the same cores would slow each other down.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name: (the full run's arguments, a quick run's arguments); the script is benchmarks/NAME.py unless SCRIPTS names it
BENCHMARKS = {
    "training_throughput": ([], ["--rounds", "1", "--steps", "1", "--max-seq-len-passage", "64"]),
    "training_throughput_cached": (
        ["--batch-size", "128", "--chunk", "16", "--rounds", "2", "--steps", "1"],
        ["--batch-size", "8", "--chunk", "4", "--rounds", "1", "--steps", "1", "--max-seq-len-passage", "64"],
    ),
    "corpus_encoding": ([], ["--rounds", "1", "--limit", "128"]),
    "cpu_lesson": ([], ["--questions", "16", "--no-quality"]),
    # The latest of the runs docs/benchmarks.md's quality table combines (--combine): today's defaults and DPR's two
    # encoders beside sentence-transformers' one model and its two (a Router), each the other's like. The rate is
    # named, not left to the default, so that these rows keep combining with the earlier runs' under one name if the
    # default moves; its own file, so that the combined table in retrieval_quality.json is not replaced by three
    # seeds' figures.
    "retrieval_quality": (
        [
            "--languages",
            "de",
            "--seeds",
            "48",
            "49",
            "50",
            "--dpr-nb",
            "shared learning_rate=2e-5",
            "two learning_rate=2e-5",
            "--sentence-transformers",
            "shared",
            "two",
            "--json",
            str(HERE / "results" / "retrieval_quality_seeds_48_50.json"),
        ],
        ["--languages", "en", "--max-train-questions", "32", "--dpr-nb", "shared"],
    ),
    # The run docs/benchmarks.md reports (the script's own default, 2, 5 and 10 minutes, takes three hours here).
    "equal_time_quality": (
        ["--budgets", "1", "3", "--seeds", "42", "43", "44", "45", "46"],
        ["--budgets", "0.2", "--seeds", "42", "--probe-steps", "2", "--max-train-questions", "64"],
    ),
    "passage_format": ([], ["--language", "en", "--no-distractors"]),
    "grad_cache": (["--model", "tiny", "--max-seq-len-passage", "64", "--steps", "1"]),
    "grad_cache_cost": ([], ["--rounds", "1", "--repeats", "1", "--batch-size", "8", "--chunk", "4"]),
    "streaming_reader": (["--size-mb", "1024"], ["--size-mb", "20", "--rounds", "1"]),
    "faiss_indexes": ([], ["--n", "20000", "--queries", "200"]),
    "eval_scale": ([], ["--passages", "20000", "--questions", "500"]),
    "paired_coverage": ([], ["--sweeps", "20", "--resamples", "200"]),
}

SCRIPTS = {"training_throughput_cached": "training_throughput"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small settings; results go to benchmarks/results/quick/")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    args = parser.parse_args()
    failed = []
    for name, (full, quick) in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        script = HERE / f"{SCRIPTS.get(name, name)}.py"
        if not script.is_file():
            print(f"\n=== {name}: {script} is absent, skipped", flush=True)
            continue
        arguments = quick + ["--json", str(HERE / "results" / "quick" / f"{name}.json")] if args.quick else full
        print(f"\n=== {name}: python {script.relative_to(HERE.parent)} {' '.join(arguments)}", flush=True)
        started = time.perf_counter()
        if subprocess.run([sys.executable, str(script), *arguments]).returncode:
            failed.append(name)
        print(f"=== {name}: {time.perf_counter() - started:.0f} s", flush=True)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
