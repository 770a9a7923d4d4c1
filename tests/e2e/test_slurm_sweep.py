"""hydra/launcher=submitit_slurm on a real (one-node, CPU) SLURM cluster: a two-job sweep is
submitted, queued, run and collected, with one run folder and one results row per job."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY
from tests.e2e.slurm_cluster import Cluster, why_not

pytestmark = pytest.mark.slow


def test_submitit_sweep_runs_on_slurm(tmp_path: Path) -> None:
    reason = why_not()
    if reason:
        pytest.skip(f"no SLURM cluster: {reason}")
    sweep = tmp_path / "sweep"
    logs = tmp_path / "logs"
    with Cluster(tmp_path / "slurm") as cluster:
        command = [
            sys.executable, "-m", "src.train", "-m", *TINY,
            "data.max_train_rows=120", "data.max_test_rows=60",
            f"hydra.sweep.dir={sweep}", f"paths.log_dir={logs}",
            f"paths.cache_dir={tmp_path}/cache", f"paths.aim_repo={tmp_path}/aim",
            "hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug",
            "hydra.launcher.gpus_per_node=null", "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=10",
            "seed=1,2",
        ]  # fmt: skip
        env = {**cluster.env, "HF_HUB_OFFLINE": "1", "PROJECT_ROOT": str(ROOT)}
        env["OMP_NUM_THREADS"] = "1"
        launcher = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        queue: dict[tuple, list[str]] = {}  # squeue while the sweep ran, once per state
        deadline = time.monotonic() + 600
        while launcher.poll() is None and time.monotonic() < deadline:
            lines = cluster.run("squeue", check=False).stdout.strip().splitlines()
            states = tuple(tuple(line.split()[:5:4]) for line in lines[1:])
            if states and states not in queue:
                queue[states] = lines
            time.sleep(1)
        if launcher.poll() is None:
            launcher.kill()
        output = launcher.communicate()[0]
        assert launcher.returncode == 0, output[-3000:] + cluster.logs()
        jobs = cluster.run("scontrol", "show", "job", "-o", check=False).stdout
        completions = (tmp_path / "slurm" / "jobcomp.txt").read_text()
        sacct = cluster.run("sacct", "-a", check=False)
    print("squeue while the sweep ran:", *("\n".join(lines) for lines in queue.values()), sep="\n")
    print("scontrol show job -o:", jobs, "jobcomp (filetxt):", completions, sep="\n")
    print("sacct:", sacct.stdout or sacct.stderr)

    assert queue, "squeue never showed the sweep's jobs"
    assert completions.count("JobState=COMPLETED") == 2, completions
    folders = sorted(p for p in sweep.iterdir() if p.name.isdigit())
    assert [p.name for p in folders] == ["0", "1"]
    seeds = set()
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["status"] == "success", metrics
        assert "test/auc_macro" in metrics["metrics"]
        info = json.loads((folder / "run_info.json").read_text())
        seeds.add(info["seed"])
    assert seeds == {1, 2}
    with (logs / "train" / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["run_dir"] for row in rows) == [str(p) for p in folders]
    assert {row["status"] for row in rows} == {"success"}
    # every job ran as a SLURM job (submitit's log is named after its SLURM job id)
    assert len(list((sweep / ".submitit").glob("*/*_log.out"))) == 2
    assert os.environ.get("SLURM_JOB_ID") is None  # the test itself is not inside a job
