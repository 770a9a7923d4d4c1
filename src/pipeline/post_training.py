"""After test: tune per-label thresholds on validation, score test at 0.5 and tuned thresholds,
measure calibration (ECE, optional temperature scaling) and draw the diagnostic plots.

Works on the best checkpoint reloaded exactly as ``python -m src.eval`` reloads it, so both
report the same numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from src.metrics.calibration import apply_temperatures, fit_temperatures, per_label_ece
from src.metrics.thresholds import ThresholdTuning, metric_function, tune_thresholds
from src.pipeline.evaluation import THRESHOLDS_FILE, evaluate_predictions
from src.pipeline.load_run import load_run
from src.pipeline.predictions import SplitPredictions, predict_logits
from src.pipeline.run_folder import write_json
from src.plots.run_plots import write_run_plots
from src.utils.errors import TextlabError

log = logging.getLogger(__name__)
PLOTS_DIR = "plots"


@dataclass
class Analysis:
    """What the post-training step found; written to statistics.json and logged to Aim."""

    checkpoint: str | None
    tuning: ThresholdTuning
    evaluation: dict[str, dict[str, dict[str, float]]]  # split -> default|tuned -> scores
    calibration: dict[str, Any]
    plots: dict[str, Path] = field(default_factory=dict)


def calibration_summary(
    val: SplitPredictions,
    test: SplitPredictions,
    label_names: list[str],
    n_bins: int,
    temperature_scaling: bool,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """ECE per label on val and test; with scaling, temperatures (fitted on val) and the test
    ECE after scaling. Returns the summary and the scaled test probabilities (or None)."""
    summary: dict[str, Any] = {
        "n_bins": n_bins,
        "ece_val": per_label_ece(val.probs, val.targets, label_names, n_bins),
        "ece_test": per_label_ece(test.probs, test.targets, label_names, n_bins),
    }
    if not temperature_scaling:
        return summary, None
    temperatures = fit_temperatures(val.logits, val.targets)
    scaled = apply_temperatures(test.logits, temperatures)
    summary["temperatures"] = dict(zip(label_names, temperatures.tolist(), strict=True))
    summary["ece_test_scaled"] = per_label_ece(scaled, test.targets, label_names, n_bins)
    return summary, scaled


def check_evaluation_settings(settings: DictConfig) -> DictConfig:
    """Fail before training, not after it, on a bad ``evaluation.*`` value."""
    bins = settings.get("ece_bins", 15)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise TextlabError(f"evaluation.ece_bins must be an integer >= 1, got {bins!r}")
    try:
        metric_function(str(settings.get("threshold_metric", "f1")))
    except ValueError as err:
        raise TextlabError(f"evaluation.threshold_metric: {err}") from None
    default = settings.get("default_threshold", 0.5)
    if isinstance(default, bool) or not isinstance(default, int | float) or not 0 <= default <= 1:
        raise TextlabError(f"evaluation.default_threshold must be in [0, 1], got {default!r}")
    return settings


def analyse_best_checkpoint(
    cfg: DictConfig,
    best_checkpoint: str | None,
    model: Any,
    datamodule: Any,
    history: dict[str, Any],
    output_dir: str | Path,
) -> Analysis:
    """Reload the best checkpoint (else use ``model`` as trained), predict val and test, tune,
    score, calibrate, plot; writes ``thresholds.json`` and ``plots/*.png`` into the run."""
    settings = check_evaluation_settings(cfg.evaluation)
    output_dir = Path(output_dir)
    if best_checkpoint:
        model = load_run(best_checkpoint).model
    fast_dev_run = cfg.trainer.get("fast_dev_run") or 0
    max_batches = int(fast_dev_run) if fast_dev_run else None  # True -> 1 batch
    datamodule.setup("fit")
    datamodule.setup("test")
    predict = dict(
        precision=cfg.trainer.get("precision"),
        accelerator=cfg.trainer.get("accelerator"),
        max_batches=max_batches,
    )
    val = predict_logits(model, datamodule.val_dataloader(), **predict)
    test = predict_logits(model, datamodule.test_dataloader(), **predict)
    label_names = list(model.label_names)

    default = float(settings.get("default_threshold", 0.5))
    metric = str(settings.threshold_metric)
    tuning = tune_thresholds(val.probs, val.targets, label_names, metric, default)
    write_json(output_dir / THRESHOLDS_FILE, tuning.to_json())
    evaluation = {
        split: evaluate_predictions(preds, label_names, tuning.thresholds, default)
        for split, preds in (("val", val), ("test", test))
    }
    calibration, scaled = calibration_summary(
        val, test, label_names, settings.ece_bins, settings.temperature_scaling
    )
    plots = {}
    if settings.get("plots", True):
        plots = write_run_plots(
            output_dir / PLOTS_DIR,
            history,
            val,
            test,
            label_names,
            tuning,
            scaled,
            settings.ece_bins,
        )
    test_scores = evaluation["test"]
    log.info(
        "test macro-F1 at %.2f: %.4f, at tuned thresholds: %.4f",
        default,
        test_scores["default"]["f1_macro"],
        test_scores["tuned"]["f1_macro"],
    )
    return Analysis(best_checkpoint, tuning, evaluation, calibration, plots)
