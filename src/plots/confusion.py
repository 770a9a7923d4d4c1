"""Confusion matrix of a multi-class run: counts and row-normalised (recall per class)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from src.plots.figures import save_png


def plot_confusion_matrix(
    counts: np.ndarray, label_names: list[str], path: str | Path, title: str = "test"
) -> Path:
    """Two panels: raw counts, and each true-class row divided by its total."""
    counts = np.asarray(counts)
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=float), where=rows > 0)
    size = 1.2 + 0.55 * len(label_names)
    fig = Figure(figsize=(2 * size + 1.0, size + 0.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.22, top=0.88, wspace=0.45)
    for ax, values, name, fmt in (
        (axes[0], counts, "counts", "{:d}"),
        (axes[1], normalised, "normalised by true class", "{:.2f}"),
    ):
        ax.imshow(values, cmap="Blues", vmin=0)
        ax.set_title(name, fontsize=10)
        ticks = range(len(label_names))
        ax.set_xticks(ticks, label_names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(ticks, label_names, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        limit = values.max() / 2 if values.size else 0
        for (i, j), value in np.ndenumerate(values):
            text = fmt.format(int(value) if fmt == "{:d}" else value)
            colour = "white" if value > limit else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    fig.suptitle(f"confusion matrix ({title})")
    return save_png(fig, path)
