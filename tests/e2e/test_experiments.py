"""Every experiment config composes and runs end to end under fast_dev_run."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.train import train
from tests.conftest import ROOT

EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_under_fast_dev_run(make_cfg, experiment: str) -> None:
    # the experiment's own backbone and data, shrunk: one batch each of train/val/test
    cfg = make_cfg(
        f"experiment={experiment}",
        "debug=fdr",
        "backbone=tiny_bert",
        "data.batch_size=4",
        "data.eval_batch_size=4",
        "data.max_train_rows=200",
        "data.max_test_rows=100",
        "++data.max_val_rows=100",
        tiny=False,
    )
    data_dir = Path(cfg.data.get("data_dir", "."))
    if not data_dir.exists():  # research-only sets are not shipped (TEXTLAB_DATA_DIR)
        pytest.skip(f"data folder {data_dir} of experiment={experiment} is absent")
    summary = train(cfg)
    assert summary["status"] == "success"
    assert summary["global_step"] == 1
    # the test score of the metric the experiment monitors (val/auc_macro -> test/auc_macro)
    assert cfg.objective.replace("val/", "test/", 1) in summary["metrics"]
