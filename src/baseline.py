"""`python -m src.baseline data=<set> baseline=<dummy|tfidf_lr|frozen_lr>`: a non-neural or
frozen-encoder baseline on the neural run's splits, scored with the same metric code.

Wiring only: the task (``data.task``) fits and scores, the baseline (``conf/baseline/``)
featurises and supplies the estimator (``src.baselines``). The run folder holds what a training
run's does (``config.yaml``, ``run_info.json``, ``metrics.json``), plus the val/test
predictions and, for multi-label, ``thresholds.json``. In a multirun (``-m``) a failing job is
recorded in its folder and the sweep goes on; a single run fails in one line.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from src.baselines.estimators import fit_predict
from src.baselines.tasks import baseline_for
from src.config import RunSchema, ThresholdsSchema, build, build_datamodule, validated
from src.evaluation.thresholds import THRESHOLDS_FILE
from src.runs.folder import write_json
from src.runs.lifecycle import Run, run_job
from src.tasks import task_class
from src.tasks.base import TOKENS, Task

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
PREDICTIONS_NPZ = "predictions.npz"
PREDICTIONS_JSON = "predictions.json"


def run_baseline(cfg: DictConfig) -> dict[str, Any]:
    """Run the baseline ``cfg.baseline`` on ``cfg.data``; returns the metrics.json summary."""
    # settings first: a bad value fails in one line, before seeding or reading any data
    thresholds = validated(
        cfg.get("thresholds") or OmegaConf.create({}), ThresholdsSchema, "thresholds"
    )
    threads = validated(cfg, RunSchema).sklearn_threads
    task: Task = build(cfg.data.task)
    baseline = build(cfg.baseline)  # builds no encoder yet: nothing random is drawn
    with Run(cfg) as run:
        datamodule = build_datamodule(cfg.data)
        datamodule.prepare_data()  # reads and validates every file
        splits = {split: datamodule.raw_split(split) for split in SPLITS}
        run.record_start(datamodule.data_files())

        log.info("baseline %s on %s (%s)", baseline.name, cfg.data._target_, task.name)
        predictions, timings = fit_predict(baseline, task, splits, threads)
        metrics, tuned = baseline_for(task).score(
            predictions, splits, thresholds.metric, thresholds.default, thresholds.min_positives
        )
        if tuned is not None:
            write_json(run.dir / THRESHOLDS_FILE, tuned)
        write_predictions(run.dir, task, predictions)
        finite = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
        for logger in run.loggers:
            logger.log_metrics(finite, step=0)
        return run.finish(
            metrics,
            baseline=baseline.name,
            task=task.name,
            rows={split: len(splits[split].texts) for split in SPLITS},
            timings=timings,
        )


def write_predictions(run_dir: Path, task: Task, predictions: dict[str, Any]) -> Path:
    """``predictions.json`` (tags per word) or ``predictions.npz`` (val/test probabilities)."""
    if task.output == TOKENS:
        return write_json(run_dir / PREDICTIONS_JSON, predictions)
    path = run_dir / PREDICTIONS_NPZ
    arrays = {split: np.asarray(p) for split, p in predictions.items()}
    np.savez_compressed(path, allow_pickle=True, **arrays)  # numpy's default, named
    return path


def format_summary(summary: dict[str, Any], output_dir: str, headline: Sequence[str]) -> str:
    """A baseline's headline numbers, val and test side by side, where a person will see them."""
    metrics = summary.get("metrics", {})
    lines = [
        "",
        f"baseline {summary.get('baseline')} ({summary.get('task')})",
        f"{'metric':<16}{'val':>10}{'test':>10}",
    ]
    for name in headline:
        row = [metrics.get(f"{split}/{name}") for split in ("val", "test")]
        if any(value is not None for value in row):
            cells = "".join(f"{v:>10.4f}" if v is not None else f"{'-':>10}" for v in row)
            lines.append(f"{name:<16}{cells}")
    lines.append(f"run folder: {output_dir}")
    lines.append(f"wall time: {summary.get('wall_time_s', 0):.0f} s")
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path="../conf", config_name="baseline")
def main(cfg: DictConfig) -> float | None:
    """Returns the validation objective (``cfg.objective``), as `src.train` does."""
    summary = run_job(run_baseline, cfg, cfg.paths.output_dir)
    if summary is None:  # a failed sweep job, recorded in its folder
        return math.nan
    headline = task_class(summary["task"]).headline
    print(format_summary(summary, cfg.paths.output_dir, headline), flush=True)
    return summary["metrics"].get(cfg.objective)


if __name__ == "__main__":
    main()
