"""Hydra multirun: one result per job, a crashing job recorded as failed, Optuna wiring."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, TINY


def multirun(tmp_path: Path, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PROJECT_ROOT": str(ROOT)}
    args = [
        *TINY,
        "data.max_train_rows=120",
        "data.max_test_rows=60",
        f"hydra.sweep.dir={tmp_path}/sweep",
        f"paths.cache_dir={tmp_path}/cache",
        f"paths.aim_repo={tmp_path}/aim",
        f"paths.log_dir={tmp_path}/logs",
        *overrides,
    ]
    return subprocess.run(
        [sys.executable, "-m", "src.train", "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def job_results(sweep: Path) -> dict[str, dict]:
    results = {}
    for metrics in sorted(sweep.glob("*/metrics.json")):
        overrides = yaml.safe_load((metrics.parent / ".hydra" / "overrides.yaml").read_text())
        results[" ".join(o for o in overrides if not o.startswith(tuple(TINY)))] = json.loads(
            metrics.read_text()
        )
    return results


def test_grid_gives_one_result_per_job_and_survives_a_crash(tmp_path: Path) -> None:
    result = multirun(tmp_path, "model.pooling=cls,bogus,mean", "logger=aim")
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = sorted((tmp_path / "sweep").glob("[0-9]*"))
    assert len(jobs) == 3
    statuses = {}
    for job in jobs:
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        pooling = next(o for o in overrides if o.startswith("model.pooling="))
        statuses[pooling] = json.loads((job / "metrics.json").read_text())
    assert statuses["model.pooling=cls"]["status"] == "success"
    assert statuses["model.pooling=mean"]["status"] == "success"  # ran after the crash
    failed = statuses["model.pooling=bogus"]
    assert failed["status"] == "failed"
    assert "unknown model.pooling 'bogus'" in failed["error"]
    assert (tmp_path / "aim" / ".aim").is_dir()
    # one results.csv row per job, the crashed one included with its error
    with (tmp_path / "logs" / "train" / "results.csv").open() as handle:
        rows = {row["pooling"]: row for row in csv.DictReader(handle)}
    assert {p: r["status"] for p, r in rows.items()} == {
        "cls": "success",
        "bogus": "failed",
        "mean": "success",
    }
    assert "unknown model.pooling 'bogus'" in rows["bogus"]["error"]
    assert "test/auc_macro" in json.loads(rows["mean"]["test_metrics"])


@pytest.mark.slow
def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_path: Path) -> None:
    result = multirun(
        tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1,2", "logger=aim"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = [json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/metrics.json")]
    assert len(metrics) == 2 and all(m["status"] == "success" for m in metrics)


@pytest.mark.slow
def test_optuna_search_uses_the_validation_objective(tmp_path: Path) -> None:
    result = multirun(
        tmp_path, "hparams_search=optuna", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    best = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {"model.optimizer.lr", "model.dropout", "model.pooling"}
    values = [
        json.loads(p.read_text())["metrics"]["val/auc_macro"]
        for p in (tmp_path / "sweep").glob("*/metrics.json")
    ]
    assert best["best_value"] == pytest.approx(max(values))
