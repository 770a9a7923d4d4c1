"""A configuration and seed that ran twice is counted once, with a warning."""

from __future__ import annotations

import pandas as pd

from src.compare import compare, load_sweeps
from src.report.comparison import paired_differences, summarise
from src.report.duplicates import collapse_duplicates
from tests.report.run_folders import make_job, prediction_sweep


def test_a_repeated_sweep_is_flagged_and_counted_once(tmp_path) -> None:
    first = prediction_sweep(tmp_path / "first", seeds=[1, 2], poolings=("cls", "mean"))
    again = prediction_sweep(tmp_path / "again", seeds=[1, 2], poolings=("cls", "mean"))
    runs = load_sweeps([first, again])
    counted, warnings = collapse_duplicates(runs)
    assert len(runs) == 8 and len(counted) == 4 and len(warnings) == 4
    assert set(counted["job"].str.split("/").str[0]) == {"again"}  # the latest finished
    assert warnings[0] == (
        "`experiment=toy` cls seed 1 ran 2 times: first/0 (success), again/0 (success); "
        "kept again/0"
    )
    summary = summarise(counted).set_index("pooling")
    diffs = paired_differences(counted)
    assert summary.loc["mean", "runs"] == 2 == len(diffs[0].seeds)  # both sections: 2 seeds
    markdown = compare([first, again], tmp_path / "out")
    assert "ran 2 times" in markdown and "| 2 | 0 | 0 |" in markdown


def test_a_finished_rerun_wins_over_an_interrupted_run_and_a_later_failure(tmp_path) -> None:
    make_job(tmp_path / "a", 0, "cls", 5, {}, status="interrupted")
    make_job(tmp_path / "b", 0, "cls", 5, {"test/auc_macro": 0.9})
    make_job(tmp_path / "c", 0, "cls", 5, {}, status="failed")
    counted, warnings = collapse_duplicates(load_sweeps([tmp_path / x for x in "abc"]))
    assert list(counted["job"]) == ["b/0"] and "kept b/0" in warnings[0]


def test_without_times_the_later_row_is_the_later_run() -> None:
    runs = pd.DataFrame(
        {
            "job": ["s1/0", "s2/0"],
            "cell": ["default"] * 2,
            "pooling": ["cls"] * 2,
            "seed": ["1"] * 2,
            "status": ["success"] * 2,
        }
    )
    counted, warnings = collapse_duplicates(runs)
    assert list(counted["job"]) == ["s2/0"] and len(warnings) == 1
    single, none = collapse_duplicates(runs.iloc[:1])
    assert list(single["job"]) == ["s1/0"] and none == []
