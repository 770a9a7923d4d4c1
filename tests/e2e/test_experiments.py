"""Every experiment config composes and runs end to end under fast_dev_run."""

from __future__ import annotations

import pytest

from src.train import train
from tests.conftest import ROOT

EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_under_fast_dev_run(make_cfg, data_dir_for, experiment: str) -> None:
    # the experiment's own backbone and data, shrunk: one batch each of train/val/test;
    # research-only data sets, when absent, are replaced by a synthetic set in their format
    overrides = [
        f"experiment={experiment}",
        "debug=fdr",
        "backbone=tiny_bert",
        "data.batch_size=4",
        "data.eval_batch_size=4",
        "data.max_train_rows=200",
        "data.max_test_rows=100",
        "++data.max_val_rows=100",
    ]
    cfg = make_cfg(*overrides, tiny=False)
    cfg = make_cfg(*overrides, *data_dir_for(cfg), tiny=False)
    summary = train(cfg)
    assert summary["status"] == "success"
    assert summary["global_step"] == 1
    # the test score of the metric the experiment monitors (val/auc_macro -> test/auc_macro)
    assert cfg.objective.replace("val/", "test/", 1) in summary["metrics"]
