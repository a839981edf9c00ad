"""How often the paired bootstrap's 95 % interval covers a known effect, and how often it says "clear".

    python benchmarks/paired_coverage.py                       # 200 synthetic sweeps per effect, 3 seeds, 100 questions
    python benchmarks/paired_coverage.py --seeds 5 --questions 221

Each synthetic sweep trains nothing: setting B answers question q with probability d_q (each question its own
difficulty, drawn between 0.2 and 0.7) plus its run's luck (a normal draw of sd 0.03 per seed), setting A with
d_q + effect + its own luck. The true difference is `effect`. dpr_nb.evaluation.paired.paired_bootstrap then gives
its interval, as `dpr_nb.training.effects` does for real runs. Results: benchmarks/results/paired_coverage.json;
docs/exploration.md quotes them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import print_table, write_json

from dpr_nb.evaluation.paired import paired_bootstrap


def sweep(effect: float, rng, seeds: int, questions: int, luck: float) -> tuple[np.ndarray, np.ndarray]:
    difficulty = rng.uniform(0.2, 0.7, questions)
    luck_a, luck_b = rng.normal(0, luck, (2, seeds, 1))
    hits_a = rng.random((seeds, questions)) < np.clip(difficulty + effect + luck_a, 0, 1)
    hits_b = rng.random((seeds, questions)) < np.clip(difficulty + luck_b, 0, 1)
    return hits_a.astype(float), hits_b.astype(float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--luck", type=float, default=0.03, help="the sd of a run's luck")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--effects", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2])
    args = parser.parse_args()
    rng, rows, started = np.random.default_rng(0), [], time.perf_counter()
    for effect in args.effects:
        sweeps = [sweep(effect, rng, args.seeds, args.questions, args.luck) for _ in range(args.sweeps)]
        results = [paired_bootstrap(a, b, resamples=args.resamples, seed=i) for i, (a, b) in enumerate(sweeps)]
        rows.append(
            {
                "effect": effect,
                "in questions": effect * args.questions,
                "coverage": float(np.mean([r.low <= effect <= r.high for r in results])),
                "clear": float(np.mean([r.verdict == "clear" for r in results])),
                "width": float(np.mean([r.high - r.low for r in results])),
            }
        )
    print(f"{args.sweeps} sweeps per effect, {args.seeds} seeds, {args.questions} questions, luck sd {args.luck}\n")
    print_table(
        rows,
        [
            ("effect", "true effect", ".2f"),
            ("in questions", "in questions", ".0f"),
            ("coverage", "95 % interval covers it", ".3f"),
            ("clear", "called clear", ".3f"),
            ("width", "mean width", ".3f"),
        ],
    )
    write_json("paired_coverage", {"settings": vars(args), "rows": rows, "seconds": time.perf_counter() - started})


if __name__ == "__main__":
    main()
