"""Compare the poolings of a sweep over seeds: mean ± std per cell, and each pooling against a
reference pooling (``cls``), paired by seed.

The family of tests is declared before looking: the data config's ``primary_metric`` (or the
``primary=`` override) is the confirmatory metric, and its comparisons (every pooling against
the reference, in every cell) are Holm-corrected as one family. Every other reported metric is
exploratory, Holm-corrected as a second family across all its comparisons. A comparison with
fewer than 3 paired seeds gets no p-value and no interval (``statistics.MIN_SEEDS``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from src.report.predictions import PREDICTIONS_FILE as PREDICTIONS
from src.report.predictions import TestPredictions, same_test_rows
from src.report.resampled_metrics import resample_weights, resampled_metric
from src.report.statistics import (
    MIN_SEEDS,
    holm,
    paired_bootstrap_interval,
    paired_t_test,
    t_interval,
    too_few_seeds,
)
from src.tasks import TASKS, task_class

#: the multi-label comparison (Jigsaw, GoEmotions); other tasks: ``comparison_metrics``
METRICS = ("test/auc_macro", "test/f1_macro", "test/f1_micro")
REFERENCE = "cls"
CONFIRMATORY = "confirmatory"
EXPLORATORY = "exploratory"


def comparison_metrics(runs: pd.DataFrame, split: str = "test") -> tuple[str, ...]:
    """The metrics a comparison shows on ``split`` (test, or val for a choice made on
    validation): the headline metrics of the sweep's task (the task whose headline the runs
    hold most of) that the runs hold. Multi-label: AUC, macro- and micro-F1 at 0.5, and at
    tuned thresholds where the runs tuned them; multi-class: accuracy, macro- and weighted-F1;
    token: F1, precision, recall, accuracy."""
    best: tuple[str, ...] = ()
    for name in TASKS:
        present = tuple(m for m in (f"{split}/{h}" for h in task_class(name).headline) if m in runs)
        if len(present) > len(best):
            best = present
    return best or tuple(m.replace("test/", f"{split}/", 1) for m in METRICS)


@dataclass(frozen=True)
class PrimaryMetric:
    """The confirmatory metric and where it was declared (shown in the report)."""

    metric: str
    source: str


def declared_primary(
    runs: pd.DataFrame, override: str | None = None, split: str = "test"
) -> PrimaryMetric:
    """The primary metric: ``override`` (``primary=``), else the ``data.primary_metric`` of the
    jobs' resolved configs, else the test form of their ``data.objective``, else the first
    metric the comparison shows (said so in the report); on ``split=val`` its val form."""
    if override:
        return PrimaryMetric(override, "`primary=` on the command line")
    declared = _declared_test_metric(runs)
    if split == "test" or declared.metric.startswith(f"{split}/"):
        return declared
    metric = declared.metric.replace("test/", f"{split}/", 1)
    return PrimaryMetric(metric, f"{declared.source}, on {split}")


def _declared_test_metric(runs: pd.DataFrame) -> PrimaryMetric:
    for run_dir in runs.get("run_dir", pd.Series(dtype=str)).dropna():
        config = Path(run_dir) / "config.yaml" if run_dir else None
        if config is None or not config.is_file():
            continue
        data = (yaml.safe_load(config.read_text()) or {}).get("data") or {}
        if data.get("primary_metric"):
            return PrimaryMetric(str(data["primary_metric"]), "the data config's `primary_metric`")
        if str(data.get("objective", "")).startswith("val/"):
            test_metric = "test/" + str(data["objective"]).removeprefix("val/")
            return PrimaryMetric(test_metric, "the data config's `objective`, on test")
    first = comparison_metrics(runs)[0]
    return PrimaryMetric(first, "the task's first headline metric: no run config declares one")


def summarise(runs: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
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
    """One pooling − reference comparison on one metric in one cell, over the paired seeds."""

    cell: str
    treatment: str
    control: str
    metric: str
    seeds: list[str]
    differences: np.ndarray
    mean: float
    family: str = EXPLORATORY
    t_statistic: float = np.nan
    p_value: float = np.nan
    p_holm: float = np.nan
    t_low: float = np.nan
    t_high: float = np.nan
    #: the bootstrap over seeds and test examples; NaN where the runs have no predictions
    boot_low: float = np.nan
    boot_high: float = np.nan
    notes: list[str] = field(default_factory=list)

    @property
    def tested(self) -> bool:
        return not np.isnan(self.p_value)

    @property
    def ahead(self) -> int:
        return int((self.differences > 0).sum())


@dataclass(frozen=True)
class Resampling:
    """How the bootstrap over seeds and test examples is run."""

    predictions: Mapping[str, TestPredictions]  # job -> its test predictions
    resamples: int = 1000
    level: float = 0.95
    seed: int = 0


def _bootstrap(
    diff: PairedDifference, jobs: pd.DataFrame, resampling: Resampling, weights: np.ndarray
) -> str | None:
    """Fill ``diff``'s interval over seeds and test examples; the reason when it cannot."""
    per_seed = []
    for seed in diff.seeds:
        pair = []
        for pooling in (diff.treatment, diff.control):
            job = jobs.loc[(seed, pooling)]
            predictions = resampling.predictions.get(job)
            if predictions is None:
                return f"no {PREDICTIONS} for {job}"
            function = resampled_metric(diff.metric, predictions.targets)
            if function is None:
                return f"{diff.metric} is not recomputed from {PREDICTIONS}"
            pair.append(function(predictions.probs, predictions.targets, weights))
        per_seed.append(pair[0] - pair[1])
    rng = np.random.default_rng(resampling.seed)
    diff.boot_low, diff.boot_high = paired_bootstrap_interval(
        np.array(per_seed), rng, resampling.level
    )
    return None


def paired_differences(
    runs: pd.DataFrame,
    control: str = REFERENCE,
    metrics: Sequence[str] = METRICS,
    primary: str | None = None,
    treatments: Sequence[str] | None = None,
    resampling: Resampling | None = None,
) -> list[PairedDifference]:
    """Each pooling − ``control`` per seed, within each cell, over seeds where both succeeded.

    With at least ``MIN_SEEDS`` pairs: a paired t-test, its t-interval, and (with
    ``resampling`` and every paired run's predictions) the bootstrap interval over seeds and
    test examples. p-values are Holm-corrected in two families: the ``primary`` metric's
    comparisons (confirmatory) and all the others (exploratory). ``treatments``: which poolings
    to compare (default: every pooling of the cell but the control).
    """
    primary = primary or (metrics[0] if metrics else None)
    results = []
    ok = runs[runs["status"] == "success"]
    for cell, group in ok.groupby("cell", sort=True):
        jobs = group.set_index(["seed", "pooling"])["job"] if resampling is not None else None
        weights = None
        for metric in metrics:
            if metric not in group:
                continue
            table = group.pivot_table(index="seed", columns="pooling", values=metric)
            if control not in table:
                continue
            for treatment in sorted(c for c in table.columns if c != control):
                if treatments is not None and treatment not in treatments:
                    continue
                pairs = table[[treatment, control]].dropna()
                diffs = (pairs[treatment] - pairs[control]).to_numpy(float)
                if len(diffs) == 0:
                    continue
                diff = PairedDifference(
                    cell,
                    treatment,
                    control,
                    metric,
                    list(pairs.index.astype(str)),
                    diffs,
                    float(diffs.mean()),
                    family=CONFIRMATORY if metric == primary else EXPLORATORY,
                )
                if len(diffs) < MIN_SEEDS:
                    diff.notes.append(too_few_seeds(len(diffs)))
                else:
                    diff.t_statistic, diff.p_value = paired_t_test(pairs[treatment], pairs[control])
                    diff.t_low, diff.t_high = t_interval(diffs, _level(resampling))
                    reason: str | None = None
                    if resampling is not None and not metric.startswith("test/"):
                        reason = f"{metric.split('/')[0]} scores (the runs keep test predictions)"
                    elif resampling is not None:
                        weights, reason = _weights(weights, group, resampling)
                        if weights is not None:
                            reason = _bootstrap(diff, jobs, resampling, weights)
                    if reason:
                        diff.notes.append(f"interval over seeds only: {reason}")
                results.append(diff)
    for family in (CONFIRMATORY, EXPLORATORY):
        members = [d for d in results if d.family == family]
        for diff, adjusted in zip(members, holm([d.p_value for d in members]), strict=True):
            diff.p_holm = adjusted
    return results


def _level(resampling: Resampling | None) -> float:
    return resampling.level if resampling is not None else 0.95


def _weights(
    weights: np.ndarray | None, group: pd.DataFrame, resampling: Resampling
) -> tuple[np.ndarray | None, str | None]:
    """(the cell's test-row resample weights, drawn once and shared by every comparison in it;
    or None and the reason: no run has predictions, or they did not score the same rows)."""
    if weights is not None:
        return weights, None
    held = {j: resampling.predictions[j] for j in group["job"] if j in resampling.predictions}
    if not held:
        return None, f"the runs have no {PREDICTIONS}"
    if not same_test_rows(held):
        return None, f"the runs' {PREDICTIONS} hold different test rows"
    rows = len(next(iter(held.values())).targets)
    rng = np.random.default_rng(resampling.seed)
    return resample_weights(rows, resampling.resamples, rng), None


def family_sizes(diffs: Sequence[PairedDifference]) -> dict[str, int]:
    """How many tests (comparisons with a p-value) each family holds."""
    return {f: sum(d.tested and d.family == f for d in diffs) for f in (CONFIRMATORY, EXPLORATORY)}
