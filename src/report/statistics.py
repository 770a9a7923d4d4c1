"""The statistics of a paired comparison over seeds: the paired t-test, the t-interval of the
mean difference, Holm's correction over a declared family, and the paired bootstrap over seeds
and test examples.

Why these: for a given cell and seed every pooling sees the same split and initial head seed,
so the per-seed difference is the unit of replication (a paired design). The t-test and
t-interval treat the test set as fixed; the bootstrap also resamples the test examples (the same
rows for both poolers and every seed of one resample, since they all read the same test set),
so test-set sampling noise is inside its interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: fewer paired seeds than this: descriptive figures only (no p-value, no interval)
MIN_SEEDS = 3
TOO_FEW_SEEDS = (
    "fewer than {min} paired seeds ({n}): a test or interval over {n} values has {df} degree(s) "
    "of freedom and says little, so only the differences are shown"
)


def too_few_seeds(n: int) -> str:
    """The one line a comparison with fewer than ``MIN_SEEDS`` paired seeds shows instead of
    a p-value and an interval."""
    return TOO_FEW_SEEDS.format(min=MIN_SEEDS, n=n, df=max(n - 1, 0))


def paired_t_test(treatment: pd.Series, control: pd.Series) -> tuple[float, float]:
    """(t statistic, two-sided p-value) of a paired t-test; NaN with fewer than 2 pairs or when
    every difference is the same (up to rounding), where the test is undefined."""
    diffs = (treatment - control).to_numpy(float)
    if len(diffs) < 2 or np.ptp(diffs) <= 1e-12:
        return np.nan, np.nan
    test = stats.ttest_rel(treatment, control)
    return float(test.statistic), float(test.pvalue)


def t_interval(differences: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The t-interval of the mean of paired differences over seeds: mean ± t(n−1) · sd / √n.
    NaN with fewer than 2 differences; a point when they all agree."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return np.nan, np.nan
    half = stats.t.ppf((1 + level) / 2, df=len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean() - half), float(d.mean() + half)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values over one family (same order); NaN stays NaN and is not counted
    as a member of the family.

    Example:
        >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
        [0.03, 0.06, 0.06]
    """
    from statsmodels.stats.multitest import multipletests  # only the comparison needs it

    values = np.asarray(p_values, dtype=float)
    adjusted = np.full(len(values), np.nan)
    tested = ~np.isnan(values)
    if tested.any():
        adjusted[tested] = multipletests(values[tested], method="holm")[1]
    return adjusted.tolist()


def paired_bootstrap_interval(
    differences: np.ndarray, rng: np.random.Generator, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean difference over seeds, resampling seeds.

    ``differences`` is [seeds, resamples]: column ``b`` holds each seed's treatment − control
    difference recomputed on test resample ``b`` (the same test rows for every seed and both
    poolers). Each bootstrap replicate ``b`` draws seeds with replacement and averages their
    differences on test resample ``b``, so both sources of noise are in the interval. With one
    column (the observed differences) it is the plain bootstrap over seeds.
    """
    d = np.asarray(differences, dtype=float)
    if d.ndim != 2 or d.shape[0] < 2:
        return np.nan, np.nan
    seeds, columns = d.shape
    replicates = max(columns, 1000) if columns == 1 else columns
    picks = rng.integers(0, seeds, size=(replicates, seeds))
    means = d[picks, (np.arange(replicates) % columns)[:, None]].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
