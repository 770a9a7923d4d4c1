"""ROC and precision-recall curves per label (sklearn's curves, -1 rows dropped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from src.pipeline.predictions import SplitPredictions
from src.plots.figures import label_grid, note, save_png


def _label_rows(preds: SplitPredictions, j: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(probabilities, 0/1 targets) of label j's scored rows, None without both classes."""
    valid = preds.targets[:, j] != -1
    target = preds.targets[valid, j].astype(int)
    if target.min(initial=1) == target.max(initial=0):
        return None
    return preds.probs[valid, j], target


def plot_roc_curves(
    preds: SplitPredictions, label_names: list[str], path: str | Path, split: str = "test"
) -> Path:
    fig, axes = label_grid(len(label_names), f"ROC curves ({split})")
    for j, (ax, name) in enumerate(zip(axes, label_names, strict=True)):
        rows = _label_rows(preds, j)
        ax.set(title=name, xlabel="false positive rate", ylabel="true positive rate")
        if rows is None:
            note(ax, "needs both classes")
            continue
        fpr, tpr, _ = roc_curve(rows[1], rows[0])
        ax.plot(fpr, tpr, label=f"AUC {roc_auc_score(rows[1], rows[0]):.3f}")
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8)
        ax.legend(fontsize=7, loc="lower right")
    return save_png(fig, path)


def plot_pr_curves(
    preds: SplitPredictions, label_names: list[str], path: str | Path, split: str = "test"
) -> Path:
    fig, axes = label_grid(len(label_names), f"precision-recall curves ({split})")
    for j, (ax, name) in enumerate(zip(axes, label_names, strict=True)):
        rows = _label_rows(preds, j)
        ax.set(title=name, xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
        if rows is None:
            note(ax, "needs both classes")
            continue
        precision, recall, _ = precision_recall_curve(rows[1], rows[0])
        ap = average_precision_score(rows[1], rows[0])
        ax.step(recall, precision, where="post", label=f"AP {ap:.3f}")
        ax.axhline(rows[1].mean(), color="grey", ls=":", lw=0.8, label="prevalence")
        ax.legend(fontsize=7)
    return save_png(fig, path)
