"""Overrides that would put a run where it does not belong (over a finished run, outside the
logs folder), and an active-learning resume with other settings than the run's own: each is
refused in one line, and the folder it aimed at is left exactly as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from src.errors import TextlabError
from src.runs import lifecycle
from tests.active_learning.test_active_loop import TINY_ACTIVE
from tests.conftest import TINY, run_module
from tests.faults.conftest import assert_one_line


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` and a hash of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# -- a run over a finished run -------------------------------------------------------------------
def test_a_run_refuses_a_folder_that_holds_a_finished_run(make_cfg, run_copy: Path) -> None:
    before = fingerprint(run_copy)
    assert "holds a finished run" in (lifecycle.taken_folder_problem(run_copy) or "")
    with pytest.raises(TextlabError, match=r"holds a finished run \(metrics.json says 'success'"):
        lifecycle.Run(make_cfg(run_dir=run_copy))
    assert fingerprint(run_copy) == before  # not even metrics.json says "failed"


def test_an_active_learning_run_refuses_a_finished_training_run(make_cfg, run_copy) -> None:
    from src.active_learning.loop import run_active

    before = fingerprint(run_copy)
    for resume in ("false", "true"):
        cfg = make_cfg(*TINY_ACTIVE, f"active.resume={resume}", name="active", tiny=False)
        cfg.active.run_dir = str(run_copy)
        with pytest.raises(TextlabError, match="holds a finished run|nothing to resume in"):
            run_active(cfg)
    assert fingerprint(run_copy) == before


@pytest.mark.slow  # a fresh interpreter per case: ~15 s of imports
def test_hydra_run_dir_of_a_finished_run_is_refused_before_hydra_writes(run_copy: Path) -> None:
    before = fingerprint(run_copy)
    result = run_module("src.train", *TINY, f"hydra.run.dir={run_copy}")
    assert result.returncode == 2
    assert_one_line(result.stderr, f"{run_copy} holds a finished run")
    assert fingerprint(run_copy) == before  # .hydra/ and train.log included


# -- outside the logs folder ---------------------------------------------------------------------
def placed(**keys: str) -> str | None:
    base = {"task_name": "train", "paths": {"log_dir": "/data/logs"}}
    config = OmegaConf.merge(base, OmegaConf.from_dotlist([f"{k}={v}" for k, v in keys.items()]))
    return lifecycle.placement_problem(config)


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"task_name": "../../x"}, "task_name='../../x' is not a folder name"),
        ({"task_name": "a/b"}, "is not a folder name"),
        ({"task_name": ".."}, "is not a folder name"),
        ({"paths.output_dir": "/etc/x"}, "paths.output_dir=/etc/x is outside the logs folder"),
        ({"paths.output_dir": "/data/logs/../x"}, "is outside the logs folder"),
        ({"paths.output_dir": "/data/logs"}, "is outside the logs folder"),
        ({"active.run_dir": "/tmp/x"}, "active.run_dir=/tmp/x is outside the logs folder"),
        ({"paths.output_dir": "/data/logs/train/runs/a"}, None),
        ({"paths.output_dir": "/x/run", "hydra.runtime.output_dir": "/x/run"}, None),
        ({"task_name": "pooling-v2.1"}, None),
    ],
)
def test_where_a_run_may_write(keys: dict[str, str], problem: str | None) -> None:
    found = placed(**keys)
    assert found == problem if problem is None else problem in (found or ""), found


@pytest.mark.slow  # a fresh interpreter per case: ~15 s of imports
@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("paths.output_dir={tmp}/etc/x", "paths.output_dir={tmp}/etc/x is outside the logs folder"),
        ("task_name=../../x", "task_name='../../x' is not a folder name"),
        ("active.run_dir={tmp}/etc/x", "active.run_dir={tmp}/etc/x is outside the logs folder"),
    ],
)
def test_overrides_that_leave_the_logs_folder_stop_in_one_line(
    tmp_path: Path, override: str, problem: str
) -> None:
    logs = tmp_path / "a" / "logs"
    module = "src.active" if override.startswith("active.") else "src.train"
    base = TINY_ACTIVE if module == "src.active" else TINY
    result = run_module(
        module, *base, f"paths.log_dir={logs}", override.format(tmp=tmp_path), timeout=240
    )
    assert result.returncode == 2
    assert_one_line(result.stderr, problem.format(tmp=tmp_path))
    assert not (tmp_path / "etc").exists() and not (tmp_path / "x").exists()
    assert not (logs / "train" / "results.csv").exists()


# -- an active-learning resume with other settings ---------------------------------------------
CHANGED = {
    "data.max_length=16": "data.max_length=24 in the run, 16 now",
    "model.optimizer.lr=0.001": "model.optimizer.lr=",
    "trainer.max_epochs=3": "trainer.max_epochs=1 in the run, 3 now",
    "model=avg_pooler": "model.",
    "backbone=tiny_distilbert": "backbone.",
}


@pytest.fixture(scope="module")
def paused_active_run(tmp_path_factory: pytest.TempPathFactory, token_cache_dir: Path) -> Path:
    """An active-learning run paused after round 0."""
    from src.active_learning.loop import run_active
    from tests.conftest import compose_config

    run = tmp_path_factory.mktemp("active") / "run"
    overrides = [*TINY_ACTIVE, "active.rounds=1", "active.max_rounds_this_process=1"]
    assert run_active(compose_config("active", overrides, run, token_cache_dir))["status"] == (
        "paused"
    )
    return run


@pytest.mark.parametrize("change", list(CHANGED))
def test_an_active_learning_resume_refuses_other_settings(
    make_cfg, paused_active_run: Path, change: str
) -> None:
    from src.active_learning.loop import run_active

    before = fingerprint(paused_active_run)
    cfg = make_cfg(
        *TINY_ACTIVE,
        "active.rounds=1",
        "active.resume=true",
        change,
        name="active",
        tiny=False,
        run_dir=paused_active_run,
    )
    with pytest.raises(TextlabError) as caught:
        run_active(cfg)
    message = str(caught.value)
    assert "\n" not in message and "this config differs from the run's own: " in message
    assert CHANGED[change] in message, message
    assert fingerprint(paused_active_run) == before  # config.yaml and metrics.json untouched


def test_an_active_learning_resume_keeps_the_runs_config(
    make_cfg, paused_active_run: Path, tmp_path: Path
) -> None:
    """The same settings (a new logs folder, more rounds) resume; config.yaml stays as the
    first process wrote it."""
    import shutil

    from src.active_learning.loop import run_active

    run = Path(shutil.copytree(paused_active_run, tmp_path / "run"))
    config = (run / "config.yaml").read_bytes()
    cfg = make_cfg(
        *TINY_ACTIVE,
        "active.rounds=2",
        "active.resume=true",
        name="active",
        tiny=False,
        run_dir=run,
    )
    assert run_active(cfg)["status"] == "finished"
    assert (run / "config.yaml").read_bytes() == config
