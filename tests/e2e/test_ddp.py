"""trainer=ddp: two CPU processes (gloo) match single-process metrics; only rank 0 records."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as L
import pytest
from torchmetrics.utilities.data import dim_zero_cat

from src.config import build, build_datamodule
from src.runs.loading import load_run
from src.tasks.multilabel.metrics import MultilabelScores
from tests.conftest import ROOT, TINY, run_module


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


def test_a_node_started_by_hand_is_not_rank_zero(make_cfg, monkeypatch) -> None:
    """NODE_RANK=1 without RANK: the run must not write rank 0's files before the trainer
    starts (Lightning only knows the rank then)."""
    from lightning.pytorch.utilities import rank_zero_only

    from src.runs.lifecycle import pin_node_rank

    cfg = make_cfg("trainer=ddp", "trainer.devices=2", "trainer.num_nodes=2")
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert pin_node_rank(cfg) == 0  # no NODE_RANK: a single machine
    monkeypatch.setenv("NODE_RANK", "1")
    assert pin_node_rank(cfg) == 2  # node 1's first process: global rank devices * 1
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert pin_node_rank(cfg) == 3


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


@pytest.mark.slow
def test_ddp_two_nodes_match_one_process(tmp_path: Path) -> None:
    """Two "nodes" on this machine, one process each (NODE_RANK 0 and 1, MASTER_ADDR/PORT, as
    on machines started by hand): one run folder written by node 0 only, and gathered
    validation and test metrics equal to one process scoring the same checkpoint."""
    run_dir = tmp_path / "run"
    args = [
        *[o for o in TINY if o != "logger=csv"],
        "data.max_train_rows=250",  # 25 validation rows: shards of 13 and 12, none repeated
        "data.eval_batch_size=8",
        "trainer=ddp",
        "trainer.devices=1",
        "trainer.num_nodes=2",
        "trainer.precision=32-true",
        "logger=csv",
        "callbacks.plots.enabled=false",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.run.dir={run_dir}",  # a folder both nodes see, as on a shared file system
    ]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PROJECT_ROOT": str(ROOT)}
    env |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "src.train", *args],
            cwd=ROOT,
            env={**env, "NODE_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=400)[0] for node in nodes]
    for node, output in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, output[-3000:]
    assert "Starting with 2 processes" in outputs[0]
    assert [o.count("best checkpoint:") for o in outputs] == [1, 0]  # node 0 reports the run
    results = tmp_path / "logs" / "train" / "results.csv"
    assert len(results.read_text().splitlines()) == 2  # header + node 0's row
    two_nodes = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    run = load_run(run_dir / "checkpoints" / "best.ckpt")
    datamodule = build_datamodule(run.cfg.data)
    trainer = build(run.cfg.trainer, devices=1, num_nodes=1, strategy="auto", logger=False)
    assert isinstance(trainer, L.Trainer) and trainer.world_size == 1
    single = trainer.validate(run.model, datamodule=datamodule, verbose=False)[0]
    single |= trainer.test(run.model, datamodule=datamodule, verbose=False)[0]
    assert len(datamodule.val_dataset) == 25
    for split in ("val", "test"):
        for key in ("auc_macro", "f1_macro", "f1_micro", "auc/toxic"):
            name = f"{split}/{key}"
            assert two_nodes[name] == pytest.approx(single[name], abs=1e-4), name
