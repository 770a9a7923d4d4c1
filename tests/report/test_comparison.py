"""The declared family, the under-3-seeds rule and both intervals, on synthetic sweeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from src.report.comparison import (
    CONFIRMATORY,
    EXPLORATORY,
    Resampling,
    declared_primary,
    paired_differences,
)
from src.report.predictions import load_test_predictions
from src.report.runs import load_runs
from src.report.statistics import holm, paired_bootstrap_interval
from tests.report.run_folders import make_job, prediction_sweep

METRICS = ("test/auc_macro", "test/f1_macro", "test/f1_micro")


def _resampling(runs: pd.DataFrame, resamples: int = 400) -> Resampling:
    held = {
        job: load_test_predictions(d) for job, d in zip(runs["job"], runs["run_dir"], strict=True)
    }
    return Resampling({j: p for j, p in held.items() if p is not None}, resamples)


def test_two_seeds_get_differences_but_no_p_value_and_no_interval(tmp_path) -> None:
    runs = load_runs(prediction_sweep(tmp_path, seeds=[1, 2]))
    diffs = paired_differences(runs, metrics=METRICS, resampling=_resampling(runs))
    assert diffs and all(len(d.differences) == 2 for d in diffs)
    for d in diffs:
        assert np.isnan([d.p_value, d.p_holm, d.t_low, d.t_high, d.boot_low]).all()
        assert d.notes == [
            "fewer than 3 paired seeds (2): a test or interval over 2 values has 1 degree(s) "
            "of freedom and says little, so only the differences are shown"
        ]


def test_three_seeds_holm_over_the_declared_family(tmp_path) -> None:
    runs = load_runs(prediction_sweep(tmp_path, seeds=[1, 2, 3], seed_noise=0.02))
    diffs = paired_differences(runs, metrics=METRICS, primary="test/auc_macro")
    confirmatory = [d for d in diffs if d.family == CONFIRMATORY]
    exploratory = [d for d in diffs if d.family == EXPLORATORY]
    assert {d.metric for d in confirmatory} == {"test/auc_macro"}
    assert [d.treatment for d in confirmatory] == ["max", "mean"]
    assert len(exploratory) == 4  # 2 poolings x 2 other metrics, one family
    for family in (confirmatory, exploratory):
        table = runs.pivot_table(index="seed", columns="pooling", values=list(METRICS))
        raw = [
            stats.ttest_rel(table[(d.metric, d.treatment)], table[(d.metric, "cls")]).pvalue
            for d in family
        ]
        assert [d.p_value for d in family] == pytest.approx(raw)
        assert [d.p_holm for d in family] == pytest.approx(holm(raw))


def test_the_interval_with_test_resampling_is_wider_on_tiny_noisy_test_sets(tmp_path) -> None:
    runs = load_runs(prediction_sweep(tmp_path, seeds=[1, 2, 3], rows=30))
    diffs = paired_differences(runs, metrics=("test/auc_macro",), resampling=_resampling(runs))
    for d in diffs:
        assert not np.isnan(d.boot_low) and not d.notes
        seed_only = paired_bootstrap_interval(d.differences[:, None], np.random.default_rng(0))
        boot, t_width = d.boot_high - d.boot_low, d.t_high - d.t_low
        assert boot >= seed_only[1] - seed_only[0]
        assert boot > t_width  # test-set sampling dominates the seed spread here
        assert d.boot_low <= d.mean <= d.boot_high


def test_runs_without_predictions_fall_back_to_seed_intervals_and_say_so(tmp_path) -> None:
    runs = load_runs(prediction_sweep(tmp_path, seeds=[1, 2, 3], with_predictions=False))
    diffs = paired_differences(runs, metrics=METRICS, resampling=_resampling(runs))
    for d in diffs:
        assert np.isnan(d.boot_low) and not np.isnan(d.t_low)
        assert d.notes == ["interval over seeds only: the runs have no predictions.npz"]


def test_tuned_threshold_metrics_keep_the_seed_interval(tmp_path) -> None:
    runs = load_runs(prediction_sweep(tmp_path, seeds=[1, 2, 3]))
    runs["test/tuned/f1_macro"] = np.linspace(0.3, 0.4, len(runs))
    diffs = paired_differences(
        runs, metrics=("test/tuned/f1_macro",), resampling=_resampling(runs, 50)
    )
    assert all("is not recomputed from predictions.npz" in d.notes[0] for d in diffs)


def test_the_primary_metric_is_read_from_the_runs_config(tmp_path) -> None:
    runs = load_runs(prediction_sweep(tmp_path / "a", seeds=[1]))
    assert declared_primary(runs).metric == "test/auc_macro"
    assert "primary_metric" in declared_primary(runs).source
    assert declared_primary(runs, "test/f1_micro").metric == "test/f1_micro"
    make_job(tmp_path / "b", 0, "cls", 1, {"test/auc_macro": 0.9}, primary=None)
    from_objective = declared_primary(load_runs(tmp_path / "b"))
    assert from_objective.metric == "test/auc_macro" and "objective" in from_objective.source
    table = pd.DataFrame({"test/accuracy": [0.9], "test/f1_macro": [0.8]})
    assert declared_primary(table).metric == "test/accuracy"  # no config: first headline


def test_compare_uses_the_runs_predictions_end_to_end(tmp_path) -> None:
    from src.compare import compare

    markdown = compare(prediction_sweep(tmp_path / "sweep", seeds=[1, 2, 3]), tmp_path / "out")
    assert "**The intervals are over seeds only:**" not in markdown
    confirmatory = markdown.split("### Confirmatory")[1].split("### Exploratory")[0]
    assert confirmatory.count("] | [") == 2  # a t-interval and a bootstrap interval per row
    assert "Primary metric `test/auc_macro` (from the data config's `primary_metric`)" in markdown
    assert (
        "bootstrap over seeds and test examples"
        in (tmp_path / "out" / "comparison.tex").read_text()
    )


def test_f1_at_fixed_thresholds_is_sklearns_and_stays_in_the_rows(tmp_path) -> None:
    from sklearn.metrics import f1_score

    from src.compare import compare

    sweep = prediction_sweep(tmp_path / "sweep", seeds=[1, 2, 3])
    markdown = compare(sweep, tmp_path / "out", fixed_thresholds=[0.3, 0.5])
    rows = pd.read_csv(tmp_path / "out" / "runs.csv", dtype={"job": str})
    for _, row in rows.iterrows():
        with np.load(sweep / row["job"] / "predictions.npz") as npz:
            probs, targets = npz["test_probs"], npz["test_targets"]
        for threshold in (0.3, 0.5):
            per_label = [
                f1_score(targets[ok, j], probs[ok, j] >= threshold, zero_division=0)
                for j in range(targets.shape[1])
                for ok in [targets[:, j] != -1]
            ]
            assert row[f"test/at_{threshold:g}/f1_macro"] == pytest.approx(np.mean(per_label))
    exploratory = markdown.split("### Exploratory")[1]
    assert "test/at_0.3/f1_macro" in exploratory and "test/at_0.5/f1_micro" in exploratory
    # re-rendered from the committed rows alone, the columns are still there
    again = compare(runs_csv=tmp_path / "out" / "runs.csv", fixed_thresholds=[0.3])
    assert "test/at_0.3/f1_macro" in again.split("### Exploratory")[1]
