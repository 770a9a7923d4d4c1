"""Aim tracking: run names, tags and sweep params, one context per score, the best
checkpoint's scores apart from the epoch curves, indexing, and a sweep from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from src.callbacks.records import AimArtifacts
from src.config import instantiate_group
from src.tracking.launch import LaunchCallback, command_line
from src.tracking.logger import SCORE_CONTEXT, name_from_overrides, score_key, scoring
from src.tracking.repo import ensure_aim_repo, reindex
from tests.conftest import ROOT, TINY

LABELS = ("toxic", "threat")


def aim_logger(make_cfg, *overrides: str, tiny: bool = True):
    cfg = make_cfg("logger=aim", *overrides) if tiny else make_cfg(*overrides, tiny=False)
    ensure_aim_repo(cfg.paths.aim_repo)
    (logger,) = instantiate_group(cfg.logger)
    return cfg, logger


def contexts(run) -> dict[tuple[str, tuple], list]:
    """(name, sorted context items) -> [(epoch, value), ...] of every metric of a run."""
    return {
        (m.name, tuple(sorted(m.context.to_dict().items()))): list(
            zip(m.epochs.values_list(), m.values.values_list(), strict=True)
        )
        for m in run.metrics()
    }


def test_run_name_keeps_what_the_overrides_change() -> None:
    overrides = [
        "model=avg_pooler",
        "model.optimizer.lr=3e-5",
        "seed=2",
        "paths.aim_repo=/tmp/aim",
        "results_file=/tmp/results.csv",
        "logger=aim",
        "ckpt_path=latest",
        "data.train_file=/data/train.csv",
    ]
    assert name_from_overrides(overrides, {"model", "logger"}) == "avg_pooler lr=3e-5 seed=2"
    assert name_from_overrides([], {"model"}, default="train") == "train"
    # two keys that end alike keep their full names; a later override of a key wins
    assert (
        name_from_overrides(["model.dropout=0.1", "data.dropout=0.2", "seed=1", "seed=3"])
        == "model.dropout=0.1 data.dropout=0.2 seed=3"
    )
    # an Optuna trial's long float is shortened; +key adds are named like keys
    assert name_from_overrides(["+model.optimizer.lr=3.1234567891e-05"]) == "lr=3.123e-05"
    # a switch is named after what it switches
    assert name_from_overrides(["callbacks.base_vs_tuned.enabled=true"]) == "base_vs_tuned=true"


def test_new_run_is_named_tagged_and_seen_once_closed(make_cfg) -> None:
    from aim import Repo

    cfg, logger = aim_logger(make_cfg, "model=avg_pooler", "model.optimizer.lr=3e-5", "seed=2")
    run = logger.experiment
    assert run.name.endswith(" debug avg_pooler lr=3e-5 seed=2")  # trainer=debug, then ours
    assert not {"csv", "aim"} & set(run.name.split())  # logger=...: where, not what
    logger.close()
    # no `aim storage reindex`: the closed run is indexed already
    (saved,) = list(Repo(cfg.paths.aim_repo).iter_runs())
    assert saved.name == run.name and saved.experiment == "train"
    assert list(saved.tags) == list(cfg.tags) == ["dev"]
    assert saved["overrides"][-3:] == ["model=avg_pooler", "model.optimizer.lr=3e-5", "seed=2"]
    assert saved.get("sweep") is None  # a single run
    assert saved["status"] == "success"


def test_no_overrides_name_the_run_after_its_task(make_cfg) -> None:
    _, logger = aim_logger(make_cfg, tiny=False)
    assert logger.experiment.name == "train"
    logger.close()


def test_an_experiment_names_and_tags_its_runs(make_cfg) -> None:
    from aim import Repo

    cfg, logger = aim_logger(make_cfg, "experiment=pooling_jigsaw", "seed=3", tiny=False)
    assert logger.experiment.name == "pooling_jigsaw seed=3"
    logger.close()
    (saved,) = list(Repo(cfg.paths.aim_repo).iter_runs())
    assert saved.experiment == "pooling_jigsaw"
    assert set(saved.tags) == {"pooling_hypothesis", "jigsaw"}


def test_prefixes_become_contexts(make_cfg) -> None:
    _, logger = aim_logger(make_cfg)
    assert logger.parse_context("val/auc_macro") == ("auc_macro", {"subset": "val"})
    assert logger.parse_context("base/test/f1/toxic") == (
        "f1/toxic",
        {"checkpoint": "untrained", "subset": "test"},
    )
    assert logger.parse_context("improvement/test/auc_macro") == (
        "auc_macro",
        {"relative_to": "untrained", "subset": "test"},
    )
    assert logger.parse_context("lr-AdamW/pg1") == ("lr-AdamW/pg1", {})
    logger.close()


def test_checkpoint_scores_do_not_extend_the_epoch_curves(make_cfg) -> None:
    from aim import Repo

    cfg, logger = aim_logger(make_cfg)
    logger.log_metrics({"val/auc_macro": 0.5, "epoch": 0}, step=10)
    logger.log_metrics({"val/auc_macro": 0.7, "epoch": 1}, step=20)
    with scoring([logger], "best"):  # what train.py's validate on best.ckpt logs
        logger.log_metrics({"val/auc_macro": 0.7, "epoch": 2}, step=20)
        logger.log_metrics({"base/test/auc_macro": 0.4}, step=0)
    assert logger.score_context == {}
    logger.log_metrics({"val/auc_macro": 0.6, "epoch": 2}, step=30)  # a later curve point
    logger.close()
    (run,) = list(Repo(cfg.paths.aim_repo).iter_runs())
    tracked = contexts(run)
    assert sorted(tracked[("auc_macro", (("subset", "val"),))]) == [(0, 0.5), (1, 0.7), (2, 0.6)]
    # a checkpoint's scores are params, not one-point series beside the curves
    assert not any(SCORE_CONTEXT & {key for key, _ in context} for _, context in tracked)
    assert run["scores", "best", "val", "auc_macro"] == 0.7
    # a prefix's own context wins over the scoring context
    assert run["scores", "untrained", "test", "auc_macro"] == 0.4


def test_score_keys_spell_out_the_context() -> None:
    best = {"checkpoint": "best", "subset": "test"}
    assert score_key("auc_macro", best) == ("scores", "best", "test", "auc_macro")
    assert score_key("f1_macro", {**best, "thresholds": "tuned"})[-2:] == ("tuned", "f1_macro")
    assert score_key("f1_macro", {**best, "thresholds": "0.3"})[-2:] == ("at_0_3", "f1_macro")
    assert score_key("ece/macro", {**best, "calibration": "temperature"}) == (
        "scores",
        "best",
        "test",
        "temperature",
        "ece",
        "macro",
    )
    gain = {"checkpoint": "best", "relative_to": "untrained", "subset": "test"}
    assert score_key("auc_macro", gain) == ("scores", "best", "vs_untrained", "test", "auc_macro")


class FakeRun(dict):
    def __init__(self) -> None:
        super().__init__()
        self.tracked: list[tuple[str, dict, float]] = []
        self.params: list[tuple[str, ...]] = []

    def track(self, value, name, context, **kwargs) -> None:
        self.tracked.append((name, dict(context), value))

    def set(self, key, value, strict: bool = True) -> None:
        self.params.append(tuple(key))

    def scores(self) -> dict[tuple[str, ...], set[str]]:
        """(subset, variant) -> score names set under ``scores.best``."""
        found: dict[tuple[str, ...], set[str]] = {}
        for key in self.params:
            assert key[:2] == ("scores", "best")
            subset, rest = key[2], key[3:]
            variant = rest[0] if rest[0] in ("tuned", "temperature", "at_0_3") else ""
            found.setdefault((subset, variant), set()).add("/".join(rest[1:] if variant else rest))
        return found


def scores(base: float) -> dict[str, float]:
    out = {}
    for i, label in enumerate(LABELS):
        for metric in ("precision", "recall", "f1", "auc"):
            out[f"{metric}/{label}"] = base + i / 100
    for metric in ("precision", "recall", "f1"):
        out[f"{metric}_macro"] = out[f"{metric}_micro"] = base
    out["auc_macro"] = base
    return out


def analysis_results(default_threshold: float = 0.5) -> dict:
    ece = {label: 0.1 for label in LABELS} | {"macro": 0.1}
    return {
        "plots": {},
        "thresholds": {"default": default_threshold, "thresholds": dict.fromkeys(LABELS, 0.3)},
        "evaluation": {
            "checkpoint": "best.ckpt",
            "val": {"default": scores(0.5), "tuned": scores(0.6)},
            "test": {"default": scores(0.4), "tuned": scores(0.45)},
        },
        "calibration": {
            "temperatures": dict.fromkeys(LABELS, 1.5),
            "ece_val": ece,
            "ece_test": ece,
            "ece_test_scaled": {k: v / 2 for k, v in ece.items()},
        },
    }


# what the final validate/test of a multi-label run logs (MultilabelTask.scores and the loss)
LOGGED = {
    f"{split}/{name}"
    for split in ("val", "test")
    for name in ("loss", "auc_macro", "f1_macro", "f1_micro")
    + tuple(f"{m}/{label}" for m in ("f1", "auc") for label in LABELS)
}


def test_analysis_scores_are_tracked_once_each() -> None:
    run = FakeRun()
    AimArtifacts.track(run, analysis_results(), {"checkpoint": "best"}, LOGGED)
    assert run.tracked == []  # scores are params, not series
    assert max(Counter(run.params).values()) == 1  # no score twice
    by_context = run.scores()
    test, tuned, scaled = ("test", ""), ("test", "tuned"), ("test", "temperature")
    assert set(by_context) == {test, tuned, scaled, ("val", ""), ("val", "tuned")}
    # at 0.5: only what training did not log (precision, recall) and the ECE
    assert not {f"test/{name}" for name in by_context[test]} & LOGGED
    assert {"precision_macro", "recall/toxic", "ece/macro", "ece/threat"} <= by_context[test]
    # tuned thresholds: the threshold-dependent scores only
    assert "f1_macro" in by_context[tuned] and "precision/threat" in by_context[tuned]
    assert not any(name.startswith("auc") for name in by_context[tuned])
    assert by_context[scaled] == {"ece/toxic", "ece/threat", "ece/macro"}
    assert run["thresholds"]["default"] == 0.5 and run["temperatures"]["toxic"] == 1.5


def test_a_default_threshold_training_does_not_use_gets_its_own_context() -> None:
    run = FakeRun()
    AimArtifacts.track(run, analysis_results(default_threshold=0.3), {"checkpoint": "best"})
    at_03 = run.scores()[("test", "at_0_3")]
    assert "f1_macro" in at_03 and "precision/toxic" in at_03
    assert not any(name.startswith("auc") for name in at_03)
    assert run.scores()[("test", "")] == {"ece/toxic", "ece/threat", "ece/macro"}


def test_reindex_never_fails_a_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert reindex(tmp_path / "no_repo_here") == []
    assert "not indexed" in caplog.text
    assert reindex("aim://127.0.0.1:53800") == []  # the tracking server indexes its runs
    ensure_aim_repo(tmp_path)
    assert reindex(tmp_path) == []  # nothing stale


def test_command_line_is_pasteable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "logs" / "train" / "runs" / "a b"
    assert (
        command_line("src.eval", ckpt_path=run)
        == "python -m src.eval 'ckpt_path=logs/train/runs/a b'"
    )
    assert command_line("src.export", ckpt_path=Path("/elsewhere"), format="onnx") == (
        "python -m src.export ckpt_path=/elsewhere format=onnx"
    )


def test_the_launch_callback_is_the_one_hydra_callback(make_cfg) -> None:
    from hydra.core.hydra_config import HydraConfig

    make_cfg()
    targets = [str(node._target_) for node in HydraConfig.get().callbacks.values()]
    assert f"{LaunchCallback.__module__}.{LaunchCallback.__name__}" in targets
    assert not any(target.endswith("CreateAimRepo") for target in targets)


def test_sweep_runs_are_named_indexed_and_compared(tmp_path: Path) -> None:
    """A two-job sweep from the command line: quiet console, the next commands, the compare
    command, and both runs in the SDK with their sweep folder and names."""
    from aim import Repo

    sweep = tmp_path / "sweep"
    args = [
        *TINY,
        "logger=aim",
        "data.max_train_rows=64",
        "data.max_test_rows=48",
        "analyses=false",
        "seed=1,2",
        f"hydra.sweep.dir={sweep}",
        f"paths.cache_dir={tmp_path}/cache",
        f"paths.aim_repo={tmp_path}/aim",
        f"paths.log_dir={tmp_path}/logs",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PROJECT_ROOT": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "src.train", "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    console = result.stdout + result.stderr
    for noise in ("aim.sdk.reporter", "litlogger", "LeafSpec"):
        assert noise not in console, noise
    assert "next:" not in result.stdout  # no "next" block after each job of a sweep
    assert f"compare the runs: python -m src.compare sweep={sweep}" in result.stdout
    # the sweep's own Aim view is saved at its end, and its address printed
    assert "see them in Aim: http://127.0.0.1:43800/params/" in result.stdout
    repo = Repo(str(tmp_path / "aim"))
    runs = sorted(repo.iter_runs(), key=lambda run: run.name)
    assert [run.name.rsplit(" ", 1)[-1] for run in runs] == ["seed=1", "seed=2"]
    assert {run["sweep"] for run in runs} == {str(sweep.resolve())}
    for run, seed in zip(runs, "12", strict=True):
        assert run["swept"]["seed"] == seed
        assert {f"sweep:{sweep.resolve()}", f"seed={seed}"} <= set(run.props.tags)
    # the view's query selects exactly the sweep's runs
    from src.tracking.views import sweep_view

    spec = sweep_view(sweep)
    assert spec.params == ["swept.seed", "scores.best.test.auc_macro"]
    assert spec.group_by == ["run.swept.seed"] and spec.metrics == []
    assert {run["scores", "best", "test", "auc_macro"] for run in runs} == {
        json.loads((sweep / job / "metrics.json").read_text())["metrics"]["test/auc_macro"]
        for job in "01"
    }
    selected = {r.run.hash for r in repo.query_runs(spec.query, report_mode=0).iter_runs()}
    assert selected == {run.hash for run in runs}
    hashes = {
        json.loads((sweep / job / "metrics.json").read_text())["aim_run_hash"] for job in "01"
    }
    assert {run.hash for run in runs} == hashes
