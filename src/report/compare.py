"""Compare configurations over seeds: mean ± std per cell, and the paired pooling difference.

The pooling hypothesis is a paired question: for a given cell and seed, the two poolings see
the same split and the same initial head seed, so their difference per seed is tested with a
paired t-test and a bootstrap confidence interval of the mean difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

METRICS = ("test/auc_macro", "test/f1_macro", "test/f1_micro")


def summarise(runs: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Per (cell, pooling): runs, failures, and mean / sample std over successful seeds."""
    rows = []
    for (cell, pooling), group in runs.groupby(["cell", "pooling"], sort=True):
        ok = group[group["status"] == "success"]
        row = {"cell": cell, "pooling": pooling, "runs": len(group), "failed": len(group) - len(ok)}
        for metric in metrics:
            values = ok[metric].dropna().to_numpy(float) if metric in ok else np.array([])
            row[f"{metric} mean"] = values.mean() if len(values) else np.nan
            row[f"{metric} std"] = values.std(ddof=1) if len(values) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class PairedDifference:
    cell: str
    metric: str
    seeds: list[str]
    differences: np.ndarray
    mean: float
    t_statistic: float
    p_value: float
    ci_low: float
    ci_high: float


def bootstrap_ci(
    differences: np.ndarray, level: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean difference (seeded: reports reproduce)."""
    if len(differences) < 2:
        return (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    samples = rng.choice(differences, size=(resamples, len(differences)), replace=True)
    means = samples.mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def paired_t_test(treatment: pd.Series, control: pd.Series) -> tuple[float, float]:
    """(t statistic, p-value) of a paired t-test; NaN with fewer than 2 pairs or when every
    difference is the same (up to rounding), where the test is undefined."""
    diffs = (treatment - control).to_numpy(float)
    if len(diffs) < 2 or np.ptp(diffs) <= 1e-12:
        return np.nan, np.nan
    test = stats.ttest_rel(treatment, control)
    return float(test.statistic), float(test.pvalue)


def paired_differences(
    runs: pd.DataFrame, treatment: str = "mean", control: str = "cls", metrics=METRICS
) -> list[PairedDifference]:
    """treatment − control per seed, within each cell, over seeds where both succeeded."""
    results = []
    ok = runs[runs["status"] == "success"]
    for cell, group in ok.groupby("cell", sort=True):
        for metric in metrics:
            if metric not in group:
                continue
            table = group.pivot_table(index="seed", columns="pooling", values=metric)
            if treatment not in table or control not in table:
                continue
            pairs = table[[treatment, control]].dropna()
            diffs = (pairs[treatment] - pairs[control]).to_numpy(float)
            if len(diffs) == 0:
                continue
            t_stat, p_value = paired_t_test(pairs[treatment], pairs[control])
            low, high = bootstrap_ci(diffs)
            results.append(
                PairedDifference(
                    cell,
                    metric,
                    list(pairs.index.astype(str)),
                    diffs,
                    float(diffs.mean()),
                    t_stat,
                    p_value,
                    low,
                    high,
                )
            )
    return results
