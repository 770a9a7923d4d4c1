"""Hydra multirun: one result per job, a crashing job recorded as failed, Optuna wiring."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from src.runs.folder import read_json_file
from tests.conftest import ROOT, TINY

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PROJECT_ROOT": str(ROOT), "OMP_NUM_THREADS": "1"}


def sweep_command(tmp_path: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "src.train",
        "-m",
        *TINY,
        "data.max_train_rows=120",
        "data.max_test_rows=60",
        f"hydra.sweep.dir={tmp_path}/sweep",
        f"paths.cache_dir={tmp_path}/cache",
        f"paths.aim_repo={tmp_path}/aim",
        f"paths.log_dir={tmp_path}/logs",
        *overrides,
    ]


def multirun(tmp_path: Path, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        sweep_command(tmp_path, *overrides),
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_sweep(tmp_path: Path, *overrides: str) -> subprocess.Popen:
    """A sweep in its own process group, so that a test can kill it and its jobs outright."""
    return subprocess.Popen(
        sweep_command(tmp_path, *overrides),
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_when_running(sweep: subprocess.Popen, job: Path, timeout: float = 300) -> None:
    """SIGKILL the sweep as soon as ``job`` has started (its metrics.json says running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and sweep.poll() is None:
        record = read_json_file(job / "metrics.json")
        if isinstance(record, dict) and record.get("status") == "running":
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait()
            return
        time.sleep(0.2)
    sweep.kill()
    raise AssertionError(f"{job} never started running")


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


# -- resuming an interrupted grid sweep: hydra/sweeper=resume --------------------------------


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file of a run folder and its content hash."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_a_killed_sweep_is_finished_by_resume(tmp_path: Path) -> None:
    from src.report.runs import load_runs

    sweep = tmp_path / "sweep"
    kill_when_running(start_sweep(tmp_path, "seed=1,2,3"), sweep / "1")
    assert json.loads((sweep / "0" / "metrics.json").read_text())["status"] == "success"
    before = load_runs(sweep).set_index("job")["status"].to_dict()
    assert before == {"0": "success", "1": "interrupted", "2": "not started"}
    finished = fingerprint(sweep / "0")

    result = multirun(tmp_path, "seed=1,2,3", "hydra/sweeper=resume")
    assert result.returncode == 0, result.stderr[-2000:]
    log = result.stdout + result.stderr
    assert "1 of 3 jobs finished, 2 to run (1: interrupted, 2: not started)" in log
    assert fingerprint(sweep / "0") == finished  # the finished job was not touched
    runs = load_runs(sweep)
    assert runs["status"].tolist() == ["success"] * 3
    assert sorted(runs["seed"].astype(int)) == [1, 2, 3]
    with (tmp_path / "logs" / "train" / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["run_dir"] for row in rows) == [str(sweep / n) for n in "012"]


def fake_sweep(tmp_path: Path, task: list[str], jobs: int) -> Path:
    """A sweep folder as the basic sweeper leaves it, its jobs finished."""
    sweep = tmp_path / "sweep"
    plan = {"hydra": {"sweeper": {"params": None}, "overrides": {"task": task}}}
    sweep.mkdir(exist_ok=True)
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(plan))
    for number in range(jobs):
        (sweep / str(number)).mkdir()
        (sweep / str(number) / "metrics.json").write_text('{"status": "success"}')
    return sweep


def task_overrides(tmp_path: Path, *overrides: str) -> list[str]:
    """The job overrides ``sweep_command`` gives (what multirun.yaml records)."""
    return [o for o in sweep_command(tmp_path, *overrides)[4:] if not o.startswith("hydra.")]


def test_resume_runs_nothing_when_every_job_finished(tmp_path: Path) -> None:
    sweep = fake_sweep(tmp_path, task_overrides(tmp_path, "seed=1,2"), jobs=2)
    result = multirun(tmp_path, "seed=1,2", "hydra/sweeper=resume")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 of 2 jobs finished, 0 to run" in result.stdout + result.stderr
    assert sorted(p.name for p in sweep.iterdir()) == ["0", "1", "multirun.yaml"]


def test_resume_refuses_another_sweep_or_no_sweep(tmp_path: Path) -> None:
    result = multirun(tmp_path, "seed=1,2", "hydra/sweeper=resume")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path}/sweep/multirun.yaml not found: set hydra.sweep.dir to the folder "
        "of the sweep to resume"
    )
    fake_sweep(tmp_path, task_overrides(tmp_path, "seed=1,2"), jobs=1)
    result = multirun(tmp_path, "seed=1,3", "hydra/sweeper=resume")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path}/sweep/multirun.yaml planned other jobs (2, this command 2); job 1 "
        "had 'seed=2', this command 'seed=3': resume with the sweep's own overrides, in their "
        "order"
    )


# -- Optuna on a journal file: hparams_search=optuna ------------------------------------------


def study_trials(sweep: Path) -> list:
    import optuna

    from hydra_plugins.textlab_sweepers.optuna_sweeper import journal_storage

    storage = journal_storage(sweep / "optuna.journal")
    return optuna.load_study(study_name="textlab", storage=storage).get_trials()


def test_search_space_from_sweep_overrides() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from hydra_plugins.textlab_sweepers.optuna_sweeper import search_space

    space, fixed = search_space(
        [
            "model.optimizer.lr=tag(log, interval(1e-5, 2e-4))",
            "model.dropout=interval(0.0, 0.3)",
            "model.pooling=choice(cls, mean)",
            "data.max_length=range(32, 96, 32)",
            "seed=7",
        ]
    )
    assert space == {
        "model.optimizer.lr": FloatDistribution(1e-5, 2e-4, log=True),
        "model.dropout": FloatDistribution(0.0, 0.3),
        "model.pooling": CategoricalDistribution(["cls", "mean"]),
        "data.max_length": CategoricalDistribution([32, 64]),
    }
    assert fixed == ["seed=7"]


def test_dead_trials_are_asked_again_in_their_folder() -> None:
    """A trial whose process died on this host is failed, queued again with its parameters and
    its run folder, and counted once."""
    import optuna

    from hydra_plugins.textlab_sweepers import optuna_sweeper as sweeper

    space = {"x": optuna.distributions.FloatDistribution(0, 1)}
    study = optuna.create_study(direction="maximize")
    study.tell(study.ask(space), 0.5)
    dead = study.ask(space)
    dead.set_user_attr(sweeper.HOST, __import__("socket").gethostname())
    dead.set_user_attr(sweeper.PID, 2**22 + 1)  # above Linux's pid limit: never alive
    dead.set_user_attr(sweeper.JOB, dead.number)
    assert sweeper.retry_dead_trials(study) == 1
    assert [t.number for t in sweeper.counted(study)] == [0]
    retry = study.ask(space)
    assert retry.params == dead.params
    assert sweeper.job_number(retry) == 1 and retry.number == 2
    assert [t.number for t in sweeper.counted(study)] == [0, 2]
    assert sweeper.retry_dead_trials(study) == 0  # the retry's own process (this one) lives


@pytest.mark.slow
def test_two_workers_share_one_optuna_study(tmp_path: Path) -> None:
    search = ("hparams_search=optuna", "hydra.sweeper.n_trials=4")
    workers = [start_sweep(tmp_path, *search) for _ in range(2)]
    assert [worker.wait(timeout=600) for worker in workers] == [0, 0]
    sweep = tmp_path / "sweep"
    trials = study_trials(sweep)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    assert {t.user_attrs["pid"] for t in trials} == {w.pid for w in workers}  # both worked
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4  # no point twice
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1", "2", "3"]
    for trial in trials:
        metrics = json.loads((sweep / str(trial.number) / "metrics.json").read_text())
        assert metrics["metrics"]["val/auc_macro"] == pytest.approx(trial.value)
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(t.value for t in trials))


@pytest.mark.slow
def test_a_killed_optuna_search_resumes(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    search = ("hparams_search=optuna", "hydra.sweeper.n_trials=3")
    kill_when_running(start_sweep(tmp_path, *search), sweep / "1")
    assert [t.state.name for t in study_trials(sweep)] == ["COMPLETE", "RUNNING"]
    finished = fingerprint(sweep / "0")

    result = multirun(tmp_path, *search)
    assert result.returncode == 0, result.stderr[-2000:]
    trials = study_trials(sweep)
    # trial 1 (killed) failed and was asked again as trial 2, with its parameters and folder
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[2].user_attrs["retry_of"] == 1 and trials[2].params == trials[1].params
    assert [t.user_attrs["job"] for t in trials] == [0, 1, 1, 3]
    assert fingerprint(sweep / "0") == finished
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1", "3"]
    for job in ("0", "1", "3"):
        assert json.loads((sweep / job / "metrics.json").read_text())["status"] == "success"
