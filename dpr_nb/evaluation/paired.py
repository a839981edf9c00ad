"""Two settings compared question by question and seed by seed: the difference, and a paired bootstrap interval.

Setting A and setting B are each trained with some seeds and evaluated on the same held-out questions; each run
keeps every question's own result (its top-5 hit, 1 or 0; its reciprocal rank; ...: dpr_nb.training.runs
`Run.question_results`). The difference of a metric is the mean over seeds and questions of A's results minus B's.

How sure is it? Two things could have come out otherwise: the questions (another 100 would give another difference)
and the seeds (another seed, another model). The bootstrap draws both again, many times: the questions with
replacement, the same draw for A and B (a question hard for one is hard for the other: pairing takes that out of the
noise), and the seeds with replacement, paired too when A and B were trained with the same seeds (the same shuffle
and head move both alike). The middle 95 % of the redrawn differences is the interval. Redrawing both counts each
question's own noise twice, once through the questions and once through the seeds, so the interval errs wide: on
synthetic sweeps it covers a known effect more often than 95 % of the time (docs/exploration.md). A narrower one
would need the seeds' share estimated from two or three seeds, which is too unsure to trust: better a "clear" that
means it. The verdict is "clear" only when the interval excludes zero; a lead inside it is one more seed or another
question set away from reversing. Said in questions: a difference of 0.03 on 100 questions is 3 questions.

With one seed per setting the interval is about these two trained models on other questions, not about the
settings: train more seeds for that.

    >>> a = np.array([[1.0, 1.0, 0.0, 1.0]])   # one seed, four questions: hit or miss
    >>> b = np.array([[1.0, 0.0, 0.0, 1.0]])
    >>> result = paired_bootstrap(a, b)
    >>> result.difference, result.difference_in_questions
    (0.25, 1.0)
    >>> result.verdict                          # one question of four: it could be chance
    'within the noise'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import SettingsError

CLEAR, NOISE = "clear", "within the noise"


@dataclass(frozen=True)
class PairedDifference:
    """A's metric minus B's, over the seeds and questions both were evaluated on, with its bootstrap interval."""

    difference: float
    low: float
    high: float
    confidence: float
    questions: int
    seeds: tuple[int, int]  # how many runs of A and of B
    paired_seeds: bool  # whether A's and B's runs were paired seed by seed

    @property
    def verdict(self) -> str:
        """ "clear" when the interval excludes zero, else "within the noise"."""
        return CLEAR if self.low > 0 or self.high < 0 else NOISE

    @property
    def difference_in_questions(self) -> float:
        """The difference as a number of questions: how many more questions A gets right (for a 0/1 metric)."""
        return self.difference * self.questions

    def as_dict(self) -> dict:
        return {
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "in questions": self.difference_in_questions,
            "questions": self.questions,
            "runs": f"{self.seeds[0]} vs {self.seeds[1]}" + (" (paired seeds)" if self.paired_seeds else ""),
            "verdict": self.verdict,
        }

    def __str__(self) -> str:
        return (
            f"{self.difference:+.3f} ({self.difference_in_questions:+.1f} questions of {self.questions}), "
            f"{self.confidence:.0%} interval [{self.low:+.3f}, {self.high:+.3f}]: {self.verdict}"
        )


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    paired_seeds: bool | None = None,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> PairedDifference:
    """The difference mean(a) - mean(b) and its percentile bootstrap interval (the module's docstring says how).

    `a`: (runs of A, questions) and `b`: (runs of B, questions), each row one run's per-question results, the columns
    the same questions in the same order. `paired_seeds` (default: when both have as many runs) pairs row i of `a`
    with row i of `b` (the same seed) when redrawing seeds. The questions are always redrawn together.
    """
    a, b = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.shape[1] != b.shape[1] or not a.size or not b.size:
        raise SettingsError(
            f"paired_bootstrap: {a.shape} and {b.shape}: give each setting's runs as rows over the same questions."
        )
    if not 0 < confidence < 1:
        raise SettingsError(f"confidence={confidence}: give a share between 0 and 1, e.g. 0.95.")
    paired = len(a) == len(b) if paired_seeds is None else paired_seeds
    if paired and len(a) != len(b):
        raise SettingsError(f"paired_seeds=True needs as many runs of A as of B, not {len(a)} and {len(b)}.")
    questions = a.shape[1]
    rng = np.random.default_rng(seed)
    draws = []
    for start in range(0, resamples, 1000):  # 1,000 redraws at a time: (1000, questions) counts in memory
        count = min(1000, resamples - start)
        # How often each seed and question is drawn: a redraw's mean is a weighted mean, no copy of the data.
        question_weights = rng.multinomial(questions, np.full(questions, 1 / questions), size=count) / questions
        seeds_a = rng.multinomial(len(a), np.full(len(a), 1 / len(a)), size=count) / len(a)
        seeds_b = seeds_a if paired else rng.multinomial(len(b), np.full(len(b), 1 / len(b)), size=count) / len(b)
        per_question = seeds_a @ a - seeds_b @ b  # (count, questions): each redraw's seeds, every question
        draws.append((per_question * question_weights).sum(axis=1))
    draws = np.concatenate(draws)
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return PairedDifference(
        difference=float(a.mean() - b.mean()),
        low=float(low),
        high=float(high),
        confidence=confidence,
        questions=questions,
        seeds=(len(a), len(b)),
        paired_seeds=paired,
    )
