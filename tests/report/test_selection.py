"""Each pooling's own learning rate chosen on validation (``src.compare select=``), and the
arms compared at their own values (``own=``), on synthetic run folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from src.compare import compare
from src.errors import TextlabError
from src.report.runs import load_runs
from src.report.selection import select_per_arm
from tests.report.test_compare import make_job

#: (model, lr) -> val/f1_macro of seeds 101, 102
SELECTION = {
    ("cls_pooler", "2e-5"): (0.70, 0.72),
    ("cls_pooler", "5e-5"): (0.74, 0.73),
    ("cls_pooler", "1e-4"): (0.73, 0.74),  # the same mean as 5e-5: the tie goes to 5e-5
    ("mean_pooler", "2e-5"): (0.60, 0.62),
    ("mean_pooler", "5e-5"): (0.71, 0.69),
    ("mean_pooler", "1e-4"): (0.80, None),  # seed 102 failed: not eligible despite its mean
}


def val(score: float) -> dict:
    return {"status": "success", "metrics": {"val/f1_macro": score, "val/accuracy": score}}


@pytest.fixture
def selection_sweep(tmp_path: Path) -> Path:
    n = 0
    for (model, lr), scores in SELECTION.items():
        for seed, score in zip((101, 102), scores, strict=True):
            summary = val(score) if score is not None else {"status": "failed", "metrics": {}}
            overrides = [f"model={model}", f"model.optimizer.lr={lr}", f"seed={seed}"]
            make_job(tmp_path / "sweep", n, overrides, summary)
            n += 1
    return tmp_path / "sweep"


def test_each_pooling_gets_its_best_complete_value(selection_sweep: Path) -> None:
    selection = select_per_arm(load_runs(selection_sweep), "model.optimizer.lr", "val/f1_macro")
    assert selection.chosen == {"cls": "5e-5", "mean": "5e-5"}
    table = selection.table.set_index(["pooling", "model.optimizer.lr"])
    assert table.loc[("cls", "2e-5"), "mean"] == pytest.approx(np.mean([0.70, 0.72]))
    assert not table.loc[("mean", "1e-4"), "eligible"]
    assert list(selection.table["model.optimizer.lr"][:3]) == ["2e-5", "5e-5", "1e-4"]


def test_select_writes_the_table_and_reads_no_test_score(
    selection_sweep: Path, tmp_path: Path
) -> None:
    markdown = compare(
        selection_sweep, tmp_path / "out", select="model.optimizer.lr", primary="val/f1_macro"
    )
    assert (tmp_path / "out" / "selection.md").read_text() == markdown
    assert "| cls | 5e-5 | 0.7400 | 0.7300 | 0.7350 | **chosen** |" in markdown
    assert "| mean | 1e-4 | 0.8000 | - | 0.8000 | incomplete |" in markdown
    assert "- `mean`: `model.optimizer.lr=5e-5`" in markdown
    assert not (tmp_path / "out" / "comparison.md").exists()
    again = compare(
        runs_csv=tmp_path / "out" / "runs.csv", select="model.optimizer.lr", primary="val/f1_macro"
    )
    assert again.split("\n", 1)[1] == markdown.split("\n", 1)[1]
    with pytest.raises(TextlabError, match="select=data.max_length: not every run sets it"):
        compare(selection_sweep, tmp_path / "x", select="data.max_length", primary="val/f1_macro")
    with pytest.raises(TextlabError, match="chosen on validation"):
        compare(selection_sweep, tmp_path / "x", select="model.optimizer.lr", primary="test/auc")


CLS = {1: 0.90, 2: 0.92, 3: 0.91}
MEAN = {1: 0.93, 2: 0.95, 3: 0.92}


def test_arms_at_their_own_learning_rate_pair_by_seed(tmp_path: Path) -> None:
    n = 0
    for model, lr, scores in (("cls_pooler", "5e-5", CLS), ("mean_pooler", "1e-4", MEAN)):
        for seed, auc in scores.items():
            summary = {"status": "success", "metrics": {"test/auc_macro": auc}}
            overrides = [f"model={model}", f"model.optimizer.lr={lr}", f"seed={seed}"]
            make_job(tmp_path / "eval", n, overrides, summary)
            n += 1
    markdown = compare(tmp_path / "eval", tmp_path / "out", own=["model.optimizer.lr"])
    assert "Each arm at its own setting: `cls` model.optimizer.lr=5e-5; `mean` " in markdown
    row = next(
        line for line in markdown.splitlines() if "mean − cls" in line and "| 1,2,3 |" in line
    )
    diff = np.mean([MEAN[s] - CLS[s] for s in CLS])
    assert f"| {diff:+.4f} |" in row
    unpaired = compare(tmp_path / "eval", tmp_path / "plain")  # lr is part of the cell
    assert "mean − cls" not in unpaired
    make_job(tmp_path / "eval", n, ["model=mean_pooler", "model.optimizer.lr=2e-5", "seed=4"],
             {"status": "success", "metrics": {"test/auc_macro": 0.9}})  # fmt: skip
    with pytest.raises(TextlabError, match="an arm's own setting must be one value"):
        compare(tmp_path / "eval", tmp_path / "out", own=["model.optimizer.lr"])
