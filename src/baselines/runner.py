"""One baseline job: read the neural run's splits, featurise, fit on train, predict val and
test, score with the neural metric code, and record the run like a training run."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
from omegaconf import DictConfig, OmegaConf

from src.baselines.base import TASKS, Baseline
from src.baselines.fitting import EVAL_SPLITS, fit_predict
from src.baselines.scoring import score_predictions
from src.pipeline.evaluation import THRESHOLDS_FILE
from src.pipeline.post_training import check_evaluation_settings
from src.pipeline.run_folder import scalar_metrics, write_json, write_resolved_config
from src.utils.aim_repo import aim_repos_in, ensure_aim_repo
from src.utils.errors import TextlabError
from src.utils.instantiate import build, build_datamodule, instantiate_group
from src.utils.run_info import run_info

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
PREDICTIONS_NPZ = "predictions.npz"
PREDICTIONS_JSON = "predictions.json"


def write_predictions(output_dir: Path, task: str, preds: dict[str, Any]) -> Path:
    """``predictions.npz`` (val/test probabilities) or ``predictions.json`` (tags per word)."""
    if task == "token":
        return write_json(output_dir / PREDICTIONS_JSON, {s: preds[s] for s in EVAL_SPLITS})
    path = output_dir / PREDICTIONS_NPZ
    np.savez_compressed(path, **{s: np.asarray(preds[s]) for s in EVAL_SPLITS})
    return path


def _loggable(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}


def run_baseline(cfg: DictConfig) -> dict[str, Any]:
    """Run the baseline ``cfg.baseline`` on ``cfg.data``; returns the metrics.json summary."""
    started = time.time()
    task = str(cfg.data.get("task"))
    if task not in TASKS:
        raise TextlabError(f"data.task must be one of {list(TASKS)}, got {task!r}")
    evaluation = check_evaluation_settings(cfg.get("evaluation") or OmegaConf.create({}))
    threads = cfg.get("sklearn_threads", 1)
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise TextlabError(f"sklearn_threads must be an integer >= 1 or null, got {threads!r}")
    baseline: Baseline = build(cfg.baseline)  # checks the baseline's settings first
    L.seed_everything(cfg.seed, workers=True)  # before any random test encoder is built

    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()  # reads and validates every file
    splits = {split: datamodule.raw_split(split) for split in SPLITS}

    for repo in aim_repos_in(cfg.get("logger")):
        ensure_aim_repo(repo)
    loggers = instantiate_group(cfg.get("logger"))
    output_dir = Path(cfg.paths.output_dir)
    write_resolved_config(cfg, output_dir)
    info = run_info(cfg.seed, datamodule.data_files(), cfg.paths.root_dir)
    write_json(output_dir / "run_info.json", info)
    for logger in loggers:
        logger.log_hyperparams({"config": OmegaConf.to_container(cfg, resolve=True), "run": info})

    log.info("baseline %s on %s (%s)", baseline.name, cfg.data._target_, task)
    preds, timings = fit_predict(baseline, task, splits, threads)
    scheme = cfg.data.get("scheme")
    metrics, thresholds = score_predictions(task, preds, splits, evaluation, scheme)
    if thresholds is not None:
        write_json(output_dir / THRESHOLDS_FILE, thresholds)
    write_predictions(output_dir, task, preds)

    summary = {
        "status": "success",
        "baseline": baseline.name,
        "task": task,
        "metrics": scalar_metrics(metrics),
        "rows": {split: len(splits[split].texts) for split in SPLITS},
        "timings": timings,
        "wall_time_s": round(time.time() - started, 1),
        "aim_run_hash": next(
            (lg.version for lg in loggers if type(lg).__name__ == "AimLogger"), None
        ),
    }
    write_json(output_dir / "metrics.json", summary)
    for logger in loggers:
        logger.log_metrics(_loggable(metrics), step=0)
        getattr(logger, "close", logger.finalize)("success")
    return summary
