"""Compare configurations over seeds: mean ± std per cell, and each pooling against [CLS].

The pooling hypothesis is a paired question: for a given cell and seed, every pooling sees the
same split and the same initial head seed, so each pooling's difference from ``cls`` per seed is
tested with a paired t-test and a bootstrap confidence interval of the mean difference. With
several poolings compared against ``cls`` the p-values are Holm-corrected within each cell and
metric (the family of comparisons a reader looks at together).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from src.tasks import TASKS, task_class

#: the multi-label comparison (Jigsaw, GoEmotions); other tasks: ``comparison_metrics``
METRICS = ("test/auc_macro", "test/f1_macro", "test/f1_micro")


def comparison_metrics(runs: pd.DataFrame) -> tuple[str, ...]:
    """The test metrics a comparison shows: the headline metrics of the sweep's task (the task
    whose headline the runs hold most of) that the runs hold. Multi-label: AUC, macro- and
    micro-F1 at 0.5, and at tuned thresholds where the runs tuned them; multi-class: accuracy,
    macro- and weighted-F1; token: F1, precision, recall, accuracy."""
    best: tuple[str, ...] = ()
    for name in TASKS:
        present = tuple(m for m in (f"test/{h}" for h in task_class(name).headline) if m in runs)
        if len(present) > len(best):
            best = present
    return best or METRICS


def summarise(runs: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Per (cell, pooling): runs, failures, runs that did not finish (interrupted, never
    started), and mean / sample std over successful seeds."""
    rows = []
    for (cell, pooling), group in runs.groupby(["cell", "pooling"], sort=True):
        ok = group[group["status"] == "success"]
        failed = int((group["status"] == "failed").sum())
        row = {
            "cell": cell,
            "pooling": pooling,
            "runs": len(group),
            "failed": failed,
            "not finished": len(group) - len(ok) - failed,  # interrupted, not started...
        }
        for metric in metrics:
            values = ok[metric].dropna().to_numpy(float) if metric in ok else np.array([])
            row[f"{metric} mean"] = values.mean() if len(values) else np.nan
            row[f"{metric} std"] = values.std(ddof=1) if len(values) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class PairedDifference:
    cell: str
    treatment: str
    control: str
    metric: str
    seeds: list[str]
    differences: np.ndarray
    mean: float
    t_statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    p_holm: float = np.nan


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order; NaN stays NaN and is not counted).

    Example:
        >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
        [0.03, 0.06, 0.06]
    """
    values = np.asarray(p_values, dtype=float)
    valid = np.flatnonzero(~np.isnan(values))
    adjusted = np.full(len(values), np.nan)
    order = valid[np.argsort(values[valid], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * values[index]))
        adjusted[index] = running
    return adjusted.tolist()


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
    runs: pd.DataFrame, control: str = "cls", metrics=METRICS, treatments=None
) -> list[PairedDifference]:
    """Each pooling − ``control`` per seed, within each cell, over seeds where both succeeded;
    p-values Holm-corrected across the poolings of a cell and metric. ``treatments``: which
    poolings to compare (default: every pooling of the cell but the control)."""
    results = []
    ok = runs[runs["status"] == "success"]
    for cell, group in ok.groupby("cell", sort=True):
        for metric in metrics:
            if metric not in group:
                continue
            table = group.pivot_table(index="seed", columns="pooling", values=metric)
            if control not in table:
                continue
            family = []
            for treatment in sorted(c for c in table.columns if c != control):
                if treatments is not None and treatment not in treatments:
                    continue
                pairs = table[[treatment, control]].dropna()
                diffs = (pairs[treatment] - pairs[control]).to_numpy(float)
                if len(diffs) == 0:
                    continue
                t_stat, p_value = paired_t_test(pairs[treatment], pairs[control])
                low, high = bootstrap_ci(diffs)
                family.append(
                    PairedDifference(
                        cell,
                        treatment,
                        control,
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
            for item, adjusted in zip(family, holm([d.p_value for d in family]), strict=True):
                item.p_holm = adjusted
            results.extend(family)
    return results
