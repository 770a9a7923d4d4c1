"""Threshold sweeps: the tuning metric against the threshold per label, tuned point marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.metrics.thresholds import ThresholdTuning, threshold_sweep
from src.pipeline.predictions import SplitPredictions
from src.plots.figures import label_grid, save_png

GRID = np.linspace(0.0, 1.0, 201)


def plot_threshold_sweeps(
    val: SplitPredictions,
    label_names: list[str],
    tuning: ThresholdTuning,
    path: str | Path,
    test: SplitPredictions | None = None,
) -> Path:
    """Validation curve (where the thresholds were tuned) and, dashed, the test curve."""
    metric = tuning.metric
    fig, axes = label_grid(len(label_names), f"{metric} vs threshold (tuned on validation)")
    splits = [("val", val, "-")] + ([("test", test, "--")] if test is not None else [])
    for j, (ax, name) in enumerate(zip(axes, label_names, strict=True)):
        for split, preds, style in splits:
            scores = threshold_sweep(preds.probs[:, j], preds.targets[:, j], GRID, metric)
            ax.plot(GRID, scores, style, lw=1, label=split)
        threshold, score = tuning.thresholds[name], tuning.val_scores[name]
        marker = "tuned" if tuning.tuned[name] else "default (no val positive)"
        ax.plot([threshold], [score], "r*", ms=10, label=f"{marker} {threshold:.3f}")
        ax.axvline(tuning.default, color="grey", lw=0.6, ls=":")
        ax.set(title=name, xlabel="threshold", ylabel=metric, xlim=(0, 1), ylim=(-0.02, 1.02))
        ax.legend(fontsize=7)
    return save_png(fig, path)
