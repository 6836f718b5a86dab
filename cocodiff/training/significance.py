"""Is one arm of an ablation better than another, beyond seed noise? The tests the protocol uses.

Each arm is a set of runs that differ only in their seed; a run gives one number (say, its
last-epoch top-1). Between two arms:

- `welch`: Welch's t-test on the means (no equal-variance assumption);
- `paired`: the t-test on per-seed differences, where seed s means the same initialisation and
  batch order in both arms (so a seed's luck cancels out);
- `bootstrap_interval`: a percentile bootstrap interval for the difference of means;
- `variance_ratio`: the ratio of the variances with the Brown-Forsythe test (Levene's test
  about medians: robust where a few seeds diverge), for "does this arm widen the spread";
- `holm`: Holm's step-down correction when several arms face one baseline;
- `seeds_needed`: seeds per arm for a two-sided Welch test to see `effect` points with the given
  power, from the exact noncentral t distribution;
- `mcnemar`: the exact paired test on the same validation clips (one run per arm, each clip
  right or wrong under both), for per-clip comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Comparison:
    difference: float  # mean(b) - mean(a)
    p_value: float
    statistic: float


def _values(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) < 2 or not np.isfinite(array).all():
        raise ValueError(f"{name}: need at least 2 finite values, got {list(values)!r}")
    return array


def welch(a: Sequence[float], b: Sequence[float]) -> Comparison:
    from scipy import stats

    x, y = _values(a, "a"), _values(b, "b")
    result = stats.ttest_ind(y, x, equal_var=False)
    return Comparison(float(y.mean() - x.mean()), float(result.pvalue), float(result.statistic))


def paired(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """The paired t-test on b[i] - a[i] (run i of both arms shares its seed)."""
    from scipy import stats

    x, y = _values(a, "a"), _values(b, "b")
    if len(x) != len(y):
        raise ValueError(f"paired: the arms have {len(x)} and {len(y)} runs")
    result = stats.ttest_rel(y, x)
    return Comparison(float((y - x).mean()), float(result.pvalue), float(result.statistic))


def bootstrap_interval(a: Sequence[float], b: Sequence[float], *, level: float = 0.95, resamples: int = 20_000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile interval of mean(b) - mean(a), resampling each arm on its own."""
    x, y = _values(a, "a"), _values(b, "b")
    rng = np.random.default_rng(seed)
    means_x = x[rng.integers(len(x), size=(resamples, len(x)))].mean(axis=1)
    means_y = y[rng.integers(len(y), size=(resamples, len(y)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means_y - means_x, [tail, 100 - tail])
    return float(low), float(high)


def variance_ratio(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """var(b) / var(a) (as `difference`) and the Brown-Forsythe p-value."""
    from scipy import stats

    x, y = _values(a, "a"), _values(b, "b")
    result = stats.levene(y, x, center="median")
    return Comparison(float(y.var(ddof=1) / x.var(ddof=1)), float(result.pvalue), float(result.statistic))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def power(seeds: int, sd: float, effect: float, alpha: float = 0.05) -> float:
    """Power of a two-sided two-sample t-test with `seeds` runs per arm and a common SD."""
    from scipy import stats

    df = 2 * seeds - 2
    noncentrality = effect / (sd * np.sqrt(2.0 / seeds))
    critical = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(critical, df, noncentrality) + stats.nct.cdf(-critical, df, noncentrality))


def seeds_needed(sd: float, effect: float, *, power_wanted: float = 0.8, alpha: float = 0.05,
                 most: int = 10_000) -> int:
    """The fewest seeds per arm that reach `power_wanted` for a true difference of `effect`."""
    if sd <= 0 or effect <= 0:
        raise ValueError("sd and effect must be > 0")
    for seeds in range(2, most + 1):
        if power(seeds, sd, effect, alpha) >= power_wanted:
            return seeds
    raise ValueError(f"more than {most} seeds per arm")


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> Comparison:
    """Exact McNemar test on paired per-clip outcomes; `difference` is b's accuracy minus a's,
    in points."""
    from scipy import stats

    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError("the two runs must score the same clips")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    p = 1.0 if only_a + only_b == 0 else float(stats.binomtest(only_b, only_a + only_b, 0.5).pvalue)
    return Comparison(100.0 * (b.mean() - a.mean()), p, float(only_b - only_a))
