"""Runs started at the same moment never share a run folder: the folder name ends with the
process id and a few random hex digits (``${run_id:}``, src/__init__.py), not just the second
it started in. DDP ranks still share rank 0's folder (Lightning pins ``hydra.run.dir``)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

import src
from tests.conftest import CONF_DIR, ROOT, TINY

FAST = [*(o for o in TINY if o != "logger=csv"), "debug=fdr"]


def start_train(*overrides: str) -> subprocess.Popen:
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PROJECT_ROOT": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "src.train", *overrides],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_run_folder_names_end_with_this_process_id() -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train", return_hydra_config=True)
    HydraConfig().set_config(cfg)
    run_dir, sweep_dir = str(cfg.hydra.run.dir), str(cfg.hydra.sweep.dir)
    pid, suffix = src.RUN_ID.split("-")
    assert pid == str(os.getpid()) and len(suffix) == 6
    assert run_dir.endswith(f"_{src.RUN_ID}") and sweep_dir.endswith(f"_{src.RUN_ID}")
    assert str(cfg.hydra.run.dir) == run_dir  # the same however often it is resolved


@pytest.mark.slow
def test_trainings_started_together_get_their_own_folders(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    common = [*FAST, f"paths.log_dir={logs}", f"paths.cache_dir={tmp_path / 'cache'}"]
    seeds = (11, 12, 13)
    procs = {seed: start_train(*common, f"seed={seed}") for seed in seeds}
    for seed, proc in procs.items():
        out, err = proc.communicate(timeout=400)
        assert proc.returncode == 0, (seed, err[-3000:])
    folders = sorted((logs / "train" / "runs").iterdir())
    assert len(folders) == len(seeds), folders
    by_pid = {proc.pid: seed for seed, proc in procs.items()}
    for folder in folders:
        pid = int(folder.name.rsplit("_", 1)[1].split("-")[0])
        seed = by_pid[pid]  # the folder is named after the process that wrote it
        assert yaml.safe_load((folder / "config.yaml").read_text())["seed"] == seed
        assert json.loads((folder / "run_info.json").read_text())["seed"] == seed
        assert json.loads((folder / "metrics.json").read_text())["status"] == "success"
    with (logs / "train" / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {Path(r["run_dir"]).name: int(r["seed"]) for r in rows} == {
        f.name: yaml.safe_load((f / "config.yaml").read_text())["seed"] for f in folders
    }


@pytest.mark.slow
def test_ddp_ranks_share_rank_zeros_folder(tmp_path: Path) -> None:
    """No hydra.run.dir given: rank 1 is pinned to the folder rank 0 named."""
    logs = tmp_path / "logs"
    proc = start_train(
        *FAST,
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.precision=32-true",
        f"paths.log_dir={logs}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    )
    out, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err[-3000:]
    folders = list((logs / "train" / "runs").iterdir())
    assert len(folders) == 1 and folders[0].name.split("_")[-1].startswith(f"{proc.pid}-")
    assert json.loads((folders[0] / "metrics.json").read_text())["status"] == "success"
