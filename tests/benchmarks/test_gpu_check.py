"""The GPU check: its GPU plan composes with the real configs, a step that fails or runs over
loses nothing else, and the CPU dry run writes every step's figures."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import gpu_check
from benchmarks.fit_timer import FitTimer
from src.config import build
from tests.conftest import ROOT, compose_config

TRAIN_STEPS = ("card", "compile", "unbucketed", "goemotions_cls", "goemotions_mean")


def train_overrides(step: gpu_check.Step) -> list[str]:
    """A src.train step's Hydra overrides, without the run folder (compose_config sets it)."""
    assert step.argv[1:3] == ["-m", "src.train"]
    return [arg for arg in step.argv[3:] if not arg.startswith("hydra.run.dir=")]


def test_the_gpu_plan_composes_with_the_real_configs(tmp_path: Path) -> None:
    steps = {s.name: s for s in gpu_check.plan(gpu_check.GPU, tmp_path / "out", tmp_path / "w")}
    assert list(steps) == ["environment", *TRAIN_STEPS, "mfu"]
    assert not any("aim" in arg for step in steps.values() for arg in step.argv)
    cfgs = {
        name: compose_config("train", train_overrides(steps[name]), tmp_path / name, tmp_path)
        for name in TRAIN_STEPS
    }
    # the card's command: mean pooling, the GPU trainer, on the default data
    assert steps["card"].argv[3:5] == ["model=avg_pooler", "trainer=a100"]
    for name, cfg in cfgs.items():
        assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed", name
        assert set(cfg.logger) == {"csv"}, name
        assert f"paths.cache_dir={tmp_path / 'w' / 'cache'}" in steps[name].argv, name
        timer = build(cfg.callbacks.fit_timer)
        assert isinstance(timer, FitTimer) and timer.warmup_steps == 10
    for name in ("card", "compile", "unbucketed"):
        assert cfgs[name].data._target_.endswith("JigsawDataModule")
        assert cfgs[name].model.pooling == "mean"
        assert cfgs[name].trainer.max_epochs == cfgs["card"].trainer.max_epochs
    assert cfgs["compile"].model.compile.enabled and not cfgs["card"].model.compile.enabled
    assert cfgs["card"].data.bucketing.enabled and not cfgs["unbucketed"].data.bucketing.enabled
    for pooling in ("cls", "mean"):
        cfg = cfgs[f"goemotions_{pooling}"]
        assert cfg.data._target_.endswith("GoEmotionsDataModule") and cfg.model.pooling == pooling
        # full data: no row limit on any split; one epoch; the analyses without the plots
        assert [cfg.data.max_train_rows, cfg.data.max_val_rows, cfg.data.max_test_rows] == [
            None,
            None,
            None,
        ]
        assert cfg.trainer.max_epochs == 1 and cfg.data.batch_size == 64
        assert not cfg.callbacks.plots.enabled and cfg.callbacks.thresholds.enabled
    mfu = steps["mfu"].argv
    assert mfu[1:3] == ["-m", "benchmarks.mfu"]
    assert {"--trainer=a100", "--shapes=64x256,32x128", "--minilm=true"} <= set(mfu)
    assert "--loops=textlab,bare_eager,bare_sdpa,bare_sdpa_compile" in mfu


def alive(pid: int, wait_s: float) -> bool:
    """Whether ``pid`` still runs after up to ``wait_s`` seconds (a zombie has ended)."""
    until = time.monotonic() + wait_s
    while True:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (ProcessLookupError, FileNotFoundError):
            return False
        if state == "Z":
            return False
        if time.monotonic() > until:
            return True
        time.sleep(0.2)


def python_step(name: str, code: str) -> gpu_check.Step:
    return gpu_check.Step(name, "test", "environment", [sys.executable, "-c", code])


def test_a_step_that_fails_or_runs_over_loses_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "logs").mkdir(parents=True)
    profile = dataclasses.replace(gpu_check.DRY_RUN, timeouts={"slow": 5, "broken": 30, "fine": 30})
    # the slow step's child starts a grandchild: the timeout must end both
    slow = python_step(
        "slow",
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(120)",
    )
    broken = python_step("broken", "import sys; print('the reason'); sys.exit(3)")
    fine = python_step("fine", f"print({gpu_check.ENVIRONMENT_LINE!r} + '{{\"cuda\": false}}')")
    deadline = time.monotonic() + 600
    started = time.monotonic()
    record = gpu_check.run_step(slow, profile, out, tmp_path / "work", deadline)
    assert record["status"] == "timeout" and record["exit_status"] is None
    assert time.monotonic() - started < 30
    grandchild = int((out / "logs" / "slow.log").read_text().split()[1])
    assert not alive(grandchild, wait_s=10)
    record = gpu_check.run_step(broken, profile, out, tmp_path / "work", deadline)
    assert record["status"] == "failed" and record["exit_status"] == 3
    assert "the reason" in record["error"]
    record = gpu_check.run_step(fine, profile, out, tmp_path / "work", deadline)
    assert record["status"] == "ok" and record["figures"] == {"cuda": False}
    # no budget left: recorded as skipped, not run
    record = gpu_check.run_step(fine, profile, out, tmp_path / "work", time.monotonic() + 5)
    assert record["status"] == "skipped" and record["wall_s"] == 0.0


def test_an_mfu_run_killed_midway_keeps_the_cases_it_printed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "logs").mkdir(parents=True)
    case = {"backbone": "bert_base_random", "shape": "64x256", "device": "NVIDIA H100 80GB"}
    figures = {"achieved_tflops": 150.0, "mfu": 0.15, "peak_gpu_memory_gb": 20.0}
    printed = [
        {"loop": "textlab", **case, "samples_per_s": 90.0, **figures},
        {"loop": "bare_eager", **case, "samples_per_s": 60.0, **figures},
        {"loop": "bare_sdpa", **case, "samples_per_s": 100.0, **figures},
        {"loop": "bare_sdpa_compile", **case, "error": "TimeoutExpired"},
    ]
    log = out / "logs" / "mfu.log"
    cut_short = '{"loop": "textlab", "backbone": "bert_base_random", "sha'  # killed mid-line
    log.write_text("Seed set to 42\n" + "".join(json.dumps(r) + "\n" for r in printed) + cut_short)
    step = next(s for s in gpu_check.plan(gpu_check.GPU, out, tmp_path) if s.name == "mfu")
    found, problems = gpu_check.read_mfu(step, gpu_check.GPU, out, tmp_path, log)
    assert found["device"] == "NVIDIA H100 80GB"
    ratios = [c.get("ratio_to_best_bare") for c in found["cases"]]
    assert ratios[:3] == [pytest.approx(0.9), pytest.approx(0.6), pytest.approx(1.0)]
    assert found["cases"][3] == {
        "backbone": "bert_base_random",
        "shape": "64x256",
        "loop": "bare_sdpa_compile",
        "error": "TimeoutExpired",
    }
    # 3 shapes x 4 loops expected on a GPU
    failed = "bert_base_random 64x256 bare_sdpa_compile: TimeoutExpired"
    assert problems == [failed, "4 of 12 cases measured"]


@pytest.mark.slow
def test_the_dry_run_writes_every_step_and_its_figures(tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    env = {**os.environ, "OUT": str(out), "TEXTLAB_PYTHON": sys.executable}
    done = subprocess.run(
        [str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", f"--work={work}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["mode"] == "dry_run"
    steps = {s["name"]: s for s in report["steps"]}
    assert list(steps) == [s.name for s in gpu_check.plan(gpu_check.DRY_RUN, out, work)]
    for name, step in steps.items():
        assert step["status"] == "ok" and step["exit_status"] == 0, (name, step["error"])
        assert step["wall_s"] > 0 and (out / step["log"]).is_file()
    assert steps["environment"]["figures"]["torch"] and report["environment"]["python"]
    for name in TRAIN_STEPS:
        figures = steps[name]["figures"]
        assert figures["run_status"] == "success", name
        assert figures["samples_per_s"] > 0 and figures["train_s"] > 0, name
        assert 0 <= figures["padded_fraction"] < 1, name
        assert 0 <= figures["test/auc_macro"] <= 1, name
        assert (out / "runs" / name / "metrics.json").is_file(), name
    for name in ("card", "goemotions_cls", "goemotions_mean"):  # the analyses ran
        assert 0 <= steps[name]["figures"]["test/tuned/f1_macro"] <= 1, name
    cases = steps["mfu"]["figures"]["cases"]
    assert [c["loop"] for c in cases] == gpu_check.MFU_LOOPS.split(",")
    for case in cases:
        assert case["samples_per_s"] > 0 and case["achieved_tflops"] > 0, case
        assert case["ratio_to_best_bare"] is not None, case
    assert set(report["comparisons"]) >= {
        "compile_vs_card_samples_per_s",
        "bucketing_vs_unbucketed_samples_per_s",
        "goemotions_mean_minus_cls/test/auc_macro",
    }
    assert not list(out.rglob("*.ckpt"))  # checkpoints stay in the work folder
    text = (out / "gpu_check.md").read_text()
    for name in steps:
        assert f"| {name} |" in text
    assert "## Training runs" in text and "## Throughput and MFU" in text
    assert "## Failures" not in text
