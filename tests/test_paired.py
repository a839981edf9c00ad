"""dpr_nb.evaluation.paired: the paired bootstrap against cases computed by hand, and against synthetic sweeps whose
true effect is known (its interval covers it, and says "clear" for a real effect and rarely for none)."""

import numpy as np
import pytest

from dpr_nb.core.errors import SettingsError
from dpr_nb.evaluation.paired import paired_bootstrap


def test_two_questions_one_seed_the_interval_is_the_whole_bootstrap_distribution():
    # Differences [1, 0]: a redraw of the two questions has mean 0 (1/4), 0.5 (1/2) or 1 (1/4).
    result = paired_bootstrap(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]]))
    assert (result.difference, result.low, result.high) == (0.5, 0.0, 1.0)
    assert result.verdict == "within the noise" and result.difference_in_questions == 1.0


def test_the_same_difference_on_every_question_and_seed_is_exact_and_clear():
    rng = np.random.default_rng(0)
    b = rng.random((3, 50))
    result = paired_bootstrap(b + 0.2, b)
    assert result.difference == pytest.approx(0.2)
    assert (result.low, result.high) == pytest.approx((0.2, 0.2))
    assert result.verdict == "clear" and result.paired_seeds and result.seeds == (3, 3)
    assert str(result).startswith("+0.200 (+10.0 questions of 50), 95% interval [+0.200, +0.200]: clear")


def test_pairing_by_seed_removes_what_two_runs_of_one_seed_share():
    """Seeds that move A and B alike (the same shuffle, the same head): paired, the interval is the effect's own;
    unpaired, the seeds' spread swamps it."""
    rng = np.random.default_rng(1)
    questions = rng.random(200)
    seed_offsets = np.array([-0.3, 0.0, 0.3])[:, None]
    b = questions + seed_offsets
    a = b + 0.05
    paired, unpaired = paired_bootstrap(a, b), paired_bootstrap(a, b, paired_seeds=False)
    assert paired.verdict == "clear" and paired.high - paired.low < 1e-9
    assert unpaired.verdict == "within the noise" and unpaired.low < 0 < unpaired.high


def simulate(effect, rng, seeds=3, questions=100, seed_spread=0.03):
    """Per-question hits of settings A and B: each question has its own difficulty, each run its own luck; A answers
    every question with probability `effect` more. The true difference is `effect`."""
    difficulty = rng.uniform(0.2, 0.7, questions)
    luck_a, luck_b = rng.normal(0, seed_spread, (2, seeds, 1))
    a = rng.random((seeds, questions)) < difficulty + effect + luck_a
    b = rng.random((seeds, questions)) < difficulty + luck_b
    return a.astype(float), b.astype(float)


@pytest.mark.parametrize("effect", [0.0, 0.05])
def test_the_interval_covers_a_known_effect_at_least_as_often_as_it_says(effect):
    rng = np.random.default_rng(2)
    results = [paired_bootstrap(*simulate(effect, rng), resamples=1000, seed=i) for i in range(100)]
    covered = np.mean([r.low <= effect <= r.high for r in results])
    assert covered >= 0.93  # 95 % intervals (measured: 0.98-0.99; docs/exploration.md)
    if effect == 0.0:  # "clear" where there is nothing: at most the 5 % the interval allows
        assert np.mean([r.verdict == "clear" for r in results]) <= 0.07


def test_a_large_effect_is_found_clear():
    rng = np.random.default_rng(3)
    results = [paired_bootstrap(*simulate(0.2, rng), resamples=1000, seed=i) for i in range(50)]
    assert np.mean([r.verdict == "clear" for r in results]) >= 0.9
    assert np.mean([r.difference for r in results]) == pytest.approx(0.2, abs=0.02)


def test_mismatched_runs_are_refused_with_what_to_give():
    with pytest.raises(SettingsError, match=r"\(1, 3\) and \(1, 4\): give each setting's runs as rows"):
        paired_bootstrap(np.zeros((1, 3)), np.zeros((1, 4)))
    with pytest.raises(SettingsError, match="paired_seeds=True needs as many runs of A as of B, not 2 and 3"):
        paired_bootstrap(np.zeros((2, 3)), np.zeros((3, 3)), paired_seeds=True)
