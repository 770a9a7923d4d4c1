"""Each statistic of the comparison against scipy / statsmodels on small synthetic tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from src.report.statistics import (
    holm,
    paired_bootstrap_interval,
    paired_t_test,
    t_interval,
    too_few_seeds,
)

TREATMENT = pd.Series([0.93, 0.94, 0.90, 0.95])
CONTROL = pd.Series([0.90, 0.92, 0.91, 0.92])


def test_paired_t_test_is_scipys() -> None:
    expected = stats.ttest_rel(TREATMENT, CONTROL)
    assert paired_t_test(TREATMENT, CONTROL) == pytest.approx((expected.statistic, expected.pvalue))
    same = paired_t_test(CONTROL + 0.01, CONTROL)  # every difference equal: undefined
    assert np.isnan(same).all()


@pytest.mark.parametrize("level", [0.9, 0.95])
def test_t_interval_is_scipys_paired_confidence_interval(level: float) -> None:
    expected = stats.ttest_rel(TREATMENT, CONTROL).confidence_interval(level)
    got = t_interval((TREATMENT - CONTROL).to_numpy(), level)
    assert got == pytest.approx((expected.low, expected.high))
    assert np.isnan(t_interval(np.array([0.1]))).all()


def test_holm_is_statsmodels_and_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.2, 0.005]
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())
    # by hand: sorted 0.01 < 0.03 < 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = holm([0.01, float("nan"), 0.5])  # NaN is not a member of the family
    assert adjusted[0] == pytest.approx(0.02) and np.isnan(adjusted[1])
    assert holm([]) == []


def test_seed_only_bootstrap_agrees_with_scipys_percentile_bootstrap() -> None:
    rng = np.random.default_rng(0)
    diffs = rng.normal(0.01, 0.02, size=12)
    ours = paired_bootstrap_interval(np.tile(diffs[:, None], (1, 20_000)), np.random.default_rng(1))
    theirs = stats.bootstrap(
        (diffs,), np.mean, n_resamples=20_000, method="percentile", rng=np.random.default_rng(2)
    ).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.002)


def test_the_bootstrap_is_seeded_and_a_point_when_nothing_varies() -> None:
    diffs = np.array([[0.1, 0.2], [0.2, 0.1], [0.3, 0.3]])
    first = paired_bootstrap_interval(diffs, np.random.default_rng(0))
    assert first == paired_bootstrap_interval(diffs, np.random.default_rng(0))
    flat = paired_bootstrap_interval(np.full((3, 1), 0.05), np.random.default_rng(0))
    assert flat == pytest.approx((0.05, 0.05))


def test_too_few_seeds_says_why() -> None:
    assert too_few_seeds(2).startswith("fewer than 3 paired seeds (2)")
    assert "1 degree(s) of freedom" in too_few_seeds(2)
