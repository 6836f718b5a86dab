"""The ablation's statistics, against scipy's references and textbook values, and the audit's
seed counts reproduced."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cocodiff.training.significance import (bootstrap_interval, holm, mcnemar, paired, power, seeds_needed,
                                            variance_ratio, welch)

BASELINE = [83.6, 84.3, 83.0]  # issue 4's CTR-GCN baseline on NW-UCLA, seeds 0-2
COCODIFF = [81.5, 84.3, 78.87931034482759]  # ... and + coarse and fine (docs/ablation_results.jsonl)


def test_welch_matches_scipy_and_points_b_minus_a():
    result = welch(BASELINE, COCODIFF)
    reference = stats.ttest_ind(COCODIFF, BASELINE, equal_var=False)
    assert result.difference == pytest.approx(np.mean(COCODIFF) - np.mean(BASELINE))
    assert result.p_value == pytest.approx(reference.pvalue) and result.statistic == pytest.approx(reference.statistic)
    assert result.p_value > 0.2  # issue 4's verdict: no difference beyond seed noise


def test_the_paired_test_matches_scipy_and_sees_what_seed_luck_hides():
    rng = np.random.default_rng(2)
    luck = rng.normal(0, 3, 10)  # each seed's luck, shared by both arms
    a, b = 72 + luck, 72.8 + luck + rng.normal(0, 0.5, 10)
    result = paired(a, b)
    reference = stats.ttest_rel(b, a)
    assert result.difference == pytest.approx(np.mean(b - a)) and result.p_value == pytest.approx(reference.pvalue)
    assert result.p_value < 0.01 < welch(a, b).p_value  # the unpaired test drowns in the luck
    with pytest.raises(ValueError, match="3 and 2 runs"):
        paired([1, 2, 3], [1, 2])


def test_the_bootstrap_interval_holds_the_difference_and_shrinks_with_more_runs():
    rng = np.random.default_rng(0)
    a, b = rng.normal(80, 1, 40), rng.normal(81, 1, 40)
    low, high = bootstrap_interval(a, b)
    assert low < b.mean() - a.mean() < high and 0 < low  # a clear 1-point effect at 40 seeds
    few_low, few_high = bootstrap_interval(a[:5], b[:5])
    assert few_high - few_low > high - low
    assert bootstrap_interval(a, b) == bootstrap_interval(a, b)  # seeded


def test_variance_ratio_sees_a_widened_spread():
    rng = np.random.default_rng(1)
    narrow, wide = rng.normal(0, 0.8, 30), rng.normal(0, 2.0, 30)
    result = variance_ratio(narrow, wide)
    assert result.difference == pytest.approx(wide.var(ddof=1) / narrow.var(ddof=1))
    assert result.p_value < 0.01
    assert variance_ratio(narrow, rng.normal(0, 0.8, 30)).p_value > 0.05


def test_holm_adjusts_step_down_and_keeps_the_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.2]) == [0.2]
    assert holm([0.5, 0.9, 0.001]) == pytest.approx([1.0, 1.0, 0.003])


@pytest.mark.parametrize("sd, seeds", [(0.76, 11), (1.0, 17), (1.5, 37)])
def test_the_audits_seed_counts_for_one_point_at_80_percent_power(sd, seeds):
    assert seeds_needed(sd, 1.0) == seeds
    assert power(seeds, sd, 1.0) >= 0.8 > power(seeds - 1, sd, 1.0)


def test_three_seeds_see_only_large_effects():
    assert power(3, 0.76, 1.0) < 0.25
    assert seeds_needed(1.9, 5.0) <= 5  # a 3-5 point effect is within reach of 3-5 seeds


def test_mcnemar_on_paired_clips():
    a = np.array([True] * 80 + [False] * 20)
    b = a.copy()
    b[80:95] = True  # b also gets 15 of a's misses right
    b[:2] = False  # ... and misses 2 that a got
    result = mcnemar(a, b)
    assert result.difference == pytest.approx(13.0)
    assert result.p_value == pytest.approx(stats.binomtest(15, 17, 0.5).pvalue) and result.p_value < 0.01
    assert mcnemar(a, a).p_value == 1.0
    with pytest.raises(ValueError):
        mcnemar(a, b[:-1])
