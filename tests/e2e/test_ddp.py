"""trainer=ddp: two CPU processes (gloo) match single-process metrics; only rank 0 records."""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as L
import pytest
from torchmetrics.utilities.data import dim_zero_cat

from src.config import build, build_datamodule
from src.runs.loading import load_run
from src.tasks.multilabel.metrics import MultilabelScores
from tests.conftest import TINY, run_module


def test_multilabel_scores_gather_by_concatenation() -> None:
    """Under DDP the rows of every rank are concatenated before AUC/F1 (no averaging)."""
    metric = MultilabelScores(["toxic"])
    assert metric._reductions == {"probs": dim_zero_cat, "targets": dim_zero_cat}


def test_ddp_config_composes(make_cfg) -> None:
    cfg = make_cfg("trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2")
    trainer_cfg = cfg.trainer
    assert trainer_cfg.strategy._target_.endswith("DDPStrategy")
    assert (trainer_cfg.devices, trainer_cfg.num_nodes) == (4, 2)
    assert trainer_cfg.strategy.static_graph is True


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_module(
        "src.train",
        *[o for o in TINY if o != "logger=csv"],
        "data.max_train_rows=250",  # 25 validation rows: shards of 13 and 12, none repeated
        "data.eval_batch_size=8",
        "model.optimizer.lr=2e-3",
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.precision=32-true",
        "trainer.max_epochs=2",
        "logger=aim",
        "callbacks.plots.enabled=false",
        f"paths.aim_repo={tmp_path / 'aim'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.run.dir={run_dir}",
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # (b) one run folder, written once; one Aim run
    assert result.stdout.count("best checkpoint:") == 1  # rank 1 returns before the summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aim", "cache", "logs", "run"]
    results = tmp_path / "logs" / "train" / "results.csv"  # the sweep-wide results table
    assert len(results.read_text().splitlines()) == 2  # header + one row, from rank 0
    for name in ("config.yaml", "run_info.json", "metrics.json", "checkpoints/best.ckpt"):
        assert (run_dir / name).is_file(), name
    assert len(list((tmp_path / "aim" / ".aim" / "meta" / "chunks").iterdir())) == 1
    # (a) the gathered validation metric equals a single-process evaluation of the same model
    ddp = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    run = load_run(run_dir / "checkpoints" / "best.ckpt")
    datamodule = build_datamodule(run.cfg.data)
    trainer = build(run.cfg.trainer, devices=1, strategy="auto", logger=False)
    assert isinstance(trainer, L.Trainer) and trainer.world_size == 1
    single = trainer.validate(run.model, datamodule=datamodule, verbose=False)[0]
    assert len(datamodule.val_dataset) == 25
    for key in ("val/auc_macro", "val/f1_macro", "val/f1_micro", "val/auc/toxic"):
        assert ddp[key] == pytest.approx(single[key], abs=1e-4), key
