"""A training killed outright (``kill -9``) and resumed from its ``last.ckpt`` loses at most
the epoch in progress, and the resumed run carries the earlier one on: its best checkpoint and
score, its CSV history; the killed folder says ``interrupted`` and who resumed it."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from src.runs.status import run_status
from src.train import train
from tests.conftest import ROOT, TINY

OBJECTIVE = "val/auc_macro"


def checkpoint_state(ckpt: dict) -> dict:
    """The RunCheckpoint state stored in a Lightning checkpoint."""
    return next(v for k, v in ckpt["callbacks"].items() if k.startswith("RunCheckpoint"))


def csv_rows(run: Path) -> list[dict[str, str]]:
    with (run / "csv" / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def val_epochs(rows: list[dict[str, str]], max_epochs: int) -> dict[int, float]:
    """The validation objective of each training epoch (the validate/test stages after fit
    log theirs at epoch ``max_epochs``)."""
    epochs = [(int(float(r["epoch"])), float(r[OBJECTIVE])) for r in rows if r.get(OBJECTIVE)]
    epochs = [(epoch, score) for epoch, score in epochs if epoch < max_epochs]
    assert len(epochs) == len(dict(epochs)), "an epoch's validation row appears twice"
    return dict(epochs)


def test_resumed_run_keeps_the_earlier_best(make_cfg, run_copy: Path, tmp_path: Path) -> None:
    """The earlier best (here: made unbeatable) stays the best after the resume: its file is
    copied into the new folder, and a worse resumed epoch does not take its place."""
    last = run_copy / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    best = str(run_copy / "checkpoints" / "best.ckpt")
    checkpoint_state(ckpt).update(
        dirpath=str(run_copy / "checkpoints"),
        best_model_path=best,
        best_model_score=torch.tensor(0.99),
        best_k_models={best: torch.tensor(0.99)},
        kth_best_model_path=best,
        kth_value=torch.tensor(0.99),
    )
    torch.save(ckpt, last)
    second = tmp_path / "second"
    cfg = make_cfg(f"ckpt_path={last}", "trainer.max_epochs=2", "analyses=false", run_dir=second)
    summary = train(cfg)
    assert summary["epochs_trained"] == 2
    assert summary["best_checkpoint"] == str(second / "checkpoints" / "best.ckpt")
    assert torch.load(second / "checkpoints" / "best.ckpt", weights_only=True)["epoch"] == 0
    resumed_last = torch.load(second / "checkpoints" / "last.ckpt", weights_only=True)
    assert float(checkpoint_state(resumed_last)["best_model_score"]) == pytest.approx(0.99)
    assert sorted(val_epochs(csv_rows(second), 2)) == [0, 1]  # the earlier epoch carried over
    earlier = json.loads((run_copy / "metrics.json").read_text())
    assert earlier["status"] == "success" and earlier["resumed_by"] == str(second)


@pytest.mark.slow
def test_kill_nine_then_resume(make_cfg, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PROJECT_ROOT": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "src.train",
            *TINY,
            "trainer.max_epochs=100",
            "analyses=false",
            f"hydra.run.dir={first}",
            f"paths.log_dir={tmp_path / 'logs'}",
            f"paths.cache_dir={tmp_path / 'cache'}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    last = first / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if last.is_file() and torch.load(last, weights_only=True)["epoch"] >= 1:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()[-3000:]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert json.loads((first / "metrics.json").read_text())["status"] == "running"
    assert run_status(first)["status"] == "interrupted"  # its process is gone

    killed = torch.load(last, weights_only=True)  # checkpoints are whole, even after kill -9
    epoch, steps = killed["epoch"], killed["global_step"]
    steps_per_epoch = steps // (epoch + 1)
    earlier_best = float(checkpoint_state(killed)["best_model_score"])
    cfg = make_cfg(
        f"ckpt_path={last}", f"trainer.max_epochs={epoch + 2}", "analyses=false", run_dir=second
    )
    summary = train(cfg)

    # at most the epoch in progress was lost: the resume went on from the checkpoint's step
    assert summary["epochs_trained"] == epoch + 2
    assert summary["global_step"] == (epoch + 2) * steps_per_epoch
    # the history is whole, each epoch once, and the best is the best of all of it
    scores = val_epochs(csv_rows(second), epoch + 2)
    assert sorted(scores) == list(range(epoch + 2))
    resumed_last = torch.load(second / "checkpoints" / "last.ckpt", weights_only=True)
    best_score = float(checkpoint_state(resumed_last)["best_model_score"])
    assert best_score == pytest.approx(max(scores.values()), abs=1e-6)
    assert best_score >= earlier_best - 1e-6
    best = torch.load(second / "checkpoints" / "best.ckpt", weights_only=True)
    assert scores[best["epoch"]] == pytest.approx(best_score, abs=1e-6)
    # the killed folder says what happened to it
    earlier = json.loads((first / "metrics.json").read_text())
    assert earlier["status"] == "interrupted" and earlier["resumed_by"] == str(second)


# Runs ``python -m src.active`` with its round writer patched to kill the process (SIGKILL)
# the moment round 0 is on disk: a kill mid-run at a known point. Polling the folder from the
# test and killing from outside raced the tiny rounds, which can all finish between two polls.
KILLED_AFTER_ROUND_0 = """
import os, runpy, signal, sys
from src.active_learning import rounds
save_round = rounds.save_round
def save_then_die(*args, **kwargs):
    save_round(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
rounds.save_round = save_then_die
sys.argv[0] = "src/active.py"
runpy.run_module("src.active", run_name="__main__", alter_sys=True)
"""


@pytest.mark.slow
def test_active_learning_killed_mid_run_resumes(make_cfg, tmp_path: Path) -> None:
    """kill -9 after round 0 is written: the resume redoes at most the round in progress."""
    from src.active_learning.loop import run_active
    from src.active_learning.rounds import completed_rounds
    from tests.active_learning.test_active_loop import COMMON, TINY_ACTIVE, labelled_sets

    run = tmp_path / "active"
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PROJECT_ROOT": str(ROOT)}
    command = [sys.executable, "-c", KILLED_AFTER_ROUND_0, *TINY_ACTIVE, *COMMON]
    command += [f"hydra.run.dir={run}", f"paths.log_dir={tmp_path / 'logs'}"]
    command += [f"paths.cache_dir={tmp_path / 'cache'}"]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert [c.round for c in completed_rounds(run)] == [0]
    assert run_status(run)["status"] == "interrupted"
    overrides = [*TINY_ACTIVE, *COMMON, "active.resume=true"]
    cfg = make_cfg(*overrides, name="active", tiny=False, run_dir=run)
    assert run_active(cfg)["status"] == "finished"
    assert [c.round for c in completed_rounds(run)] == [0, 1, 2]
    sets = labelled_sets(run)
    assert [len(set(rows)) for rows in sets] == [len(rows) for rows in sets] == [16, 24, 32]
    assert all(set(a) <= set(b) for a, b in zip(sets, sets[1:], strict=False))
