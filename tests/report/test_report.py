"""Every pooling against [CLS], paired by seed, with Holm-corrected p-values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from src.report.comparison import paired_differences
from src.report.statistics import holm


def test_holm_by_hand() -> None:
    # sorted 0.01 < 0.03 < 0.04: 3 * 0.01, max(0.03, 2 * 0.03), max(0.06, 1 * 0.04)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])
    adjusted = holm([0.01, float("nan"), 0.5])
    assert adjusted[0] == pytest.approx(0.02) and np.isnan(adjusted[1])


def test_each_pooling_is_paired_with_cls_and_corrected_as_a_family() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(1, 6):
        base = 0.95 + 0.01 * rng.standard_normal()
        for pooling, shift in (("cls", 0.0), ("mean", 0.01), ("max", 0.002)):
            noise = 0.002 * rng.standard_normal()
            rows.append(
                {
                    "cell": "default",
                    "pooling": pooling,
                    "seed": str(seed),
                    "status": "success",
                    "test/auc_macro": base + shift + noise,
                }
            )
    runs = pd.DataFrame(rows)
    diffs = paired_differences(runs, metrics=("test/auc_macro",))
    assert [d.treatment for d in diffs] == ["max", "mean"] and {d.control for d in diffs} == {"cls"}
    table = runs.pivot_table(index="seed", columns="pooling", values="test/auc_macro")
    raw = [stats.ttest_rel(table[p], table["cls"]).pvalue for p in ("max", "mean")]
    for diff, p_value, adjusted in zip(diffs, raw, holm(raw), strict=True):
        assert diff.p_value == pytest.approx(p_value)
        assert diff.p_holm == pytest.approx(adjusted) and diff.p_holm >= diff.p_value
        expected = (table[diff.treatment] - table["cls"]).mean()
        assert diff.mean == pytest.approx(expected)
