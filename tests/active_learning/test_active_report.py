"""The active-learning report on synthetic rounds.csv files: exact AULC, curves, outputs."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from src.active_learning.report import (
    find_rounds_files,
    normalised_aulc,
    paired_vs_reference,
    write_report,
)
from src.errors import TextlabError
from tests.conftest import run_module

# metric values per (strategy, seed) at 100, 200, 300 labelled rows
CURVES = {
    ("random", 1): [0.2, 0.4, 0.4],  # AULC (0.3*100 + 0.4*100) / 200 = 0.35
    ("random", 2): [0.4, 0.4, 0.6],  # (0.4 + 0.5) / 2 = 0.45
    ("bald", 1): [0.2, 0.6, 0.6],  # (0.4 + 0.6) / 2 = 0.50
    ("bald", 2): [0.2, 0.6, 1.0],  # (0.4 + 0.8) / 2 = 0.60
}


def write_sweep(folder: Path) -> Path:
    for job, ((strategy, seed), values) in enumerate(CURVES.items()):
        run = folder / str(job)
        run.mkdir(parents=True)
        pd.DataFrame(
            {
                "round": [0, 1, 2],
                "num_labelled": [100, 200, 300],
                "strategy": strategy,
                "seed": seed,
                "test/f1_micro_tuned": values,
                "test/f1_macro_tuned": [v / 2 for v in values],
                "test/auc_macro": [0.5, 0.5, 0.5],
            }
        ).to_csv(run / "rounds.csv", index=False)
    return folder


def test_normalised_aulc_by_hand() -> None:
    assert normalised_aulc([100, 200, 300], [0.2, 0.4, 0.4]) == pytest.approx(0.35)
    assert normalised_aulc([300, 100, 200], [0.4, 0.2, 0.4]) == pytest.approx(0.35)  # unsorted
    assert normalised_aulc([100, 300], [0.0, 1.0]) == pytest.approx(0.5)
    assert normalised_aulc([100], [0.7]) == pytest.approx(0.7)


def test_report_gives_exact_aulc_mean_and_std(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep")
    text = write_report([sweep], tmp_path / "out")
    summary = pd.read_csv(tmp_path / "out" / "aulc_summary.csv").set_index("strategy")
    assert summary.loc["random", "test/f1_micro_tuned mean"] == pytest.approx(0.40)
    assert summary.loc["random", "test/f1_micro_tuned std"] == pytest.approx(math.sqrt(0.005))
    assert summary.loc["bald", "test/f1_micro_tuned mean"] == pytest.approx(0.55)
    assert summary.loc["bald", "test/f1_macro_tuned mean"] == pytest.approx(0.275)
    assert summary.loc["bald", "test/auc_macro std"] == pytest.approx(0.0)
    per_run = pd.read_csv(tmp_path / "out" / "aulc.csv")
    assert sorted(per_run["test/f1_micro_tuned"]) == pytest.approx([0.35, 0.45, 0.5, 0.6])
    curves = pd.read_csv(tmp_path / "out" / "curves.csv")
    at_300 = curves[(curves.strategy == "bald") & (curves.num_labelled == 300)].iloc[0]
    assert at_300["test/f1_micro_tuned mean"] == pytest.approx(0.8)
    assert at_300["runs"] == 2
    assert "| bald | 2 | 0.5500 ± 0.0707 |" in text  # best strategy first
    assert (tmp_path / "out" / "learning_curves.png").stat().st_size > 10_000


def test_report_pairs_each_strategy_with_random_by_seed(tmp_path: Path) -> None:
    from scipy import stats

    sweep = write_sweep(tmp_path / "sweep")
    text = write_report([sweep], tmp_path / "out")
    paired = pd.read_csv(tmp_path / "out" / "aulc_paired.csv").set_index("metric")
    micro = paired.loc["test/f1_micro_tuned"]
    # bald - random per seed: 0.50 - 0.35 = 0.15 and 0.60 - 0.45 = 0.15
    assert micro["strategy"] == "bald" and micro["reference"] == "random"
    assert micro["mean_difference"] == pytest.approx(0.15)
    assert (micro["ahead"], micro["pairs"]) == (2, 2)
    assert math.isnan(micro["p_value"])  # equal differences: no t-test
    macro = paired.loc["test/f1_macro_tuned"]
    assert macro["mean_difference"] == pytest.approx(0.075)
    assert "## Paired against random" in text and "+0.1500 (ahead 2/2, p –)" in text
    # a p-value where the differences vary: the paired t-test of scipy
    per_run = pd.DataFrame(
        {
            "strategy": ["random"] * 3 + ["bald"] * 3,
            "seed": [1, 2, 3] * 2,
            "m": [0.2, 0.3, 0.4, 0.25, 0.32, 0.47],
        }
    )
    row = paired_vs_reference(per_run, "random", ("m",)).iloc[0]
    expected = stats.ttest_rel([0.25, 0.32, 0.47], [0.2, 0.3, 0.4]).pvalue
    assert row["p_value"] == pytest.approx(expected) and row["ahead"] == 3
    assert paired_vs_reference(per_run, "entropy", ("m",)).empty  # no such reference


def test_report_without_runs_is_a_clear_error(tmp_path: Path) -> None:
    done = run_module("src.active_report", f"folders=[{tmp_path}]")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: no rounds.csv under")
    with pytest.raises(TextlabError, match="no rounds.csv under"):
        find_rounds_files([tmp_path])
