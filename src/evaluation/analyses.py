"""The after-fit analyses as plain functions over a run's validation and test predictions:
decision thresholds (with the scores at the default and tuned thresholds), calibration, the
confusion matrix and the diagnostic plots. Training runs them through thin callbacks
(``src.callbacks.analyses``); any code holding ``SplitPredictions`` can call them directly."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix

from src.evaluation.calibration import apply_temperatures, fit_temperatures, per_label_ece
from src.evaluation.plots import plot_confusion_matrix, write_run_plots
from src.evaluation.predictions import SplitPredictions, evaluate_predictions
from src.evaluation.thresholds import (
    MIN_POSITIVES,
    ThresholdTuning,
    tune_thresholds,
    write_thresholds,
)
from src.tasks.multiclass.metrics import class_ids, multiclass_scores

log = logging.getLogger(__name__)
PLOTS_DIR = "plots"
#: the scores at tuned thresholds a run adds to its metrics (``val/tuned/f1_macro`` ...)
TUNED_RUN_METRICS: tuple[str, ...] = ("f1_macro", "f1_micro")


@dataclass
class ThresholdAnalysis:
    """Thresholds tuned on validation, every split scored at the default and tuned thresholds,
    and the tuned scores a run adds to its metrics."""

    tuning: ThresholdTuning
    evaluation: dict[str, dict[str, dict[str, float]]]
    run_metrics: dict[str, float] = field(default_factory=dict)

    def result(self, checkpoint: str | None) -> dict[str, Any]:
        """The JSON-ready result kept in ``statistics.json``."""
        return {
            "thresholds": self.tuning.to_json(),
            "evaluation": {"checkpoint": checkpoint, **self.evaluation},
        }


def analyse_thresholds(
    predictions: dict[str, SplitPredictions],
    label_names: list[str],
    run_dir: Path | None,
    metric: str = "f1",
    default: float = 0.5,
    min_positives: int = MIN_POSITIVES,
) -> ThresholdAnalysis:
    """Tune on ``predictions["val"]``, write ``thresholds.json`` into ``run_dir`` (if given),
    and score every split at both threshold sets."""
    val = predictions["val"]
    tuning = tune_thresholds(val.probs, val.targets, label_names, metric, default, min_positives)
    if run_dir is not None:
        write_thresholds(run_dir, tuning)
    evaluation = {
        split: evaluate_predictions(preds, label_names, tuning.thresholds, default)
        for split, preds in predictions.items()
    }
    run_metrics = {
        f"{split}/tuned/{key}": float(scores["tuned"][key])
        for split, scores in evaluation.items()
        for key in TUNED_RUN_METRICS
    }
    if tuning.kept_default:
        log.info(
            "thresholds: %s kept the default %.2f (fewer than %d positive validation rows)",
            ", ".join(tuning.kept_default),
            default,
            min_positives,
        )
    test = evaluation.get("test", {})
    if test:
        log.info(
            "test macro-F1 at %.2f: %.4f, at tuned thresholds: %.4f",
            default,
            test["default"]["f1_macro"],
            test["tuned"]["f1_macro"],
        )
    return ThresholdAnalysis(tuning, evaluation, run_metrics)


def analyse_calibration(
    predictions: dict[str, SplitPredictions],
    label_names: list[str],
    bins: int = 15,
    temperature_scaling: bool = True,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """ECE per label on validation and test; with temperature scaling, one temperature per
    label fitted on validation and the test ECE after scaling. Returns the summary and the
    scaled test probabilities (None without scaling)."""
    val, test = predictions["val"], predictions["test"]
    summary: dict[str, Any] = {
        "n_bins": bins,
        "ece_val": per_label_ece(val.probs, val.targets, label_names, bins),
        "ece_test": per_label_ece(test.probs, test.targets, label_names, bins),
    }
    scaled = None
    if temperature_scaling:
        temperatures = fit_temperatures(val.logits, val.targets)
        scaled = apply_temperatures(test.logits, temperatures)
        summary["temperatures"] = dict(zip(label_names, temperatures.tolist(), strict=True))
        summary["ece_test_scaled"] = per_label_ece(scaled, test.targets, label_names, bins)
    return summary, scaled


def analyse_confusion(
    test: SplitPredictions, label_names: list[str], plot_path: Path | None, checkpoint: str | None
) -> dict[str, Any]:
    """The test confusion matrix (counts, and a row-normalised PNG at ``plot_path``) and the
    per-class scores."""
    targets = class_ids(test.targets)
    scores = multiclass_scores(test.probs, targets, label_names)
    counts = confusion_matrix(targets, test.probs.argmax(axis=1), labels=range(len(label_names)))
    plots = {}
    if plot_path is not None:
        plots[plot_path.stem] = plot_confusion_matrix(counts, label_names, plot_path)
    log.info("test accuracy %.4f, macro-F1 %.4f", scores["accuracy"], scores["f1_macro"])
    return {
        "evaluation": {
            "checkpoint": checkpoint,
            "labels": label_names,
            "test": scores,
            "confusion_matrix": counts.tolist(),
        },
        "plots": plots,
    }


def diagnostic_plots(
    plots_dir: Path,
    predictions: dict[str, SplitPredictions],
    label_names: list[str],
    history: dict[str, Any],
    tuning: ThresholdTuning | None,
    scaled_test_probs: np.ndarray | None,
    bins: int = 15,
) -> dict[str, Path]:
    """Training curves, threshold sweeps, probability histograms, ROC and PR curves and
    reliability diagrams under ``plots_dir``; tunes thresholds here when none are given."""
    val, test = predictions["val"], predictions["test"]
    if tuning is None:
        tuning = tune_thresholds(val.probs, val.targets, label_names)
    return write_run_plots(
        plots_dir, history, val, test, label_names, tuning, scaled_test_probs, bins
    )
