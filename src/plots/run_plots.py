"""Every diagnostic plot of a run, written as PNG under ``<run>/plots/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from src.metrics.thresholds import ThresholdTuning
from src.pipeline.predictions import SplitPredictions
from src.plots.curves import plot_training_curves
from src.plots.histograms import plot_probability_histograms
from src.plots.reliability import plot_reliability
from src.plots.roc_pr import plot_pr_curves, plot_roc_curves
from src.plots.threshold_sweep import plot_threshold_sweeps

PLOT_NAMES = (
    "training_curves",
    "threshold_sweep",
    "probability_histograms",
    "roc_curves",
    "pr_curves",
    "reliability",
)


def write_run_plots(
    plot_dir: str | Path,
    history: dict[str, Any],
    val: SplitPredictions,
    test: SplitPredictions,
    label_names: list[str],
    tuning: ThresholdTuning,
    scaled_test_probs: np.ndarray | None = None,
    n_bins: int = 15,
) -> dict[str, Path]:
    """``{plot name: PNG path}`` for the names in :data:`PLOT_NAMES`."""
    plot_dir = Path(plot_dir)
    curves = {"raw": test.probs}
    if scaled_test_probs is not None:
        curves["temperature-scaled"] = scaled_test_probs
    paths = {
        "training_curves": plot_training_curves(history, plot_dir / "training_curves.png"),
        "threshold_sweep": plot_threshold_sweeps(
            val, label_names, tuning, plot_dir / "threshold_sweep.png", test=test
        ),
        "probability_histograms": plot_probability_histograms(
            test, label_names, tuning.thresholds, plot_dir / "probability_histograms.png"
        ),
        "roc_curves": plot_roc_curves(test, label_names, plot_dir / "roc_curves.png"),
        "pr_curves": plot_pr_curves(test, label_names, plot_dir / "pr_curves.png"),
        "reliability": plot_reliability(
            test.targets, curves, label_names, plot_dir / "reliability.png", n_bins
        ),
    }
    return paths
