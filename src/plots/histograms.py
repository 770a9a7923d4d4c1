"""Histograms of predicted probabilities per label, split by the true class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.pipeline.predictions import SplitPredictions
from src.plots.figures import label_grid, save_png

BINS = np.linspace(0.0, 1.0, 41)


def plot_probability_histograms(
    preds: SplitPredictions,
    label_names: list[str],
    thresholds: dict[str, float],
    path: str | Path,
    split: str = "test",
) -> Path:
    """Each class normalised to its own row count; the tuned threshold is the dashed line."""
    fig, axes = label_grid(len(label_names), f"predicted probability by true class ({split})")
    probs = preds.probs
    for j, (ax, name) in enumerate(zip(axes, label_names, strict=True)):
        target = preds.targets[:, j]
        for value, colour, text in ((0, "tab:blue", "negative"), (1, "tab:red", "positive")):
            rows = probs[target == value, j]
            counts, _ = np.histogram(rows, bins=BINS)
            counts = counts / max(len(rows), 1)  # a share of the class: rare positives show
            ax.stairs(
                counts, BINS, color=colour, fill=True, alpha=0.5, label=f"{text} ({len(rows)})"
            )
        ax.axvline(thresholds[name], color="black", ls="--", lw=1, label="threshold")
        ax.set(title=name, xlabel="probability", ylabel="share of class rows", xlim=(0, 1))
        ax.legend(fontsize=7)
    return save_png(fig, path)
