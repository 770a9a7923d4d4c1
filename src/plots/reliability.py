"""Reliability diagrams per label: observed positive rate against mean predicted probability."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.metrics.calibration import reliability_bins
from src.plots.figures import label_grid, save_png


def plot_reliability(
    targets: np.ndarray,
    curves: dict[str, np.ndarray],
    label_names: list[str],
    path: str | Path,
    n_bins: int = 15,
    split: str = "test",
) -> Path:
    """One line per probability set in ``curves`` (e.g. raw and temperature-scaled), ECE in
    the legend; bins with no row are not drawn."""
    fig, axes = label_grid(len(label_names), f"reliability diagrams ({split}, {n_bins} bins)")
    for j, (ax, name) in enumerate(zip(axes, label_names, strict=True)):
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8)
        for curve, probs in curves.items():
            bins = reliability_bins(probs[:, j], targets[:, j], n_bins)
            used = bins.counts > 0
            ax.plot(
                bins.mean_prob[used],
                bins.frac_positive[used],
                "o-",
                ms=3,
                label=f"{curve} (ECE {bins.ece:.3f})",
            )
        ax.set(
            title=name,
            xlabel="mean predicted probability",
            ylabel="fraction positive",
            xlim=(0, 1),
            ylim=(-0.02, 1.02),
        )
        ax.legend(fontsize=7, loc="upper left")
    return save_png(fig, path)
