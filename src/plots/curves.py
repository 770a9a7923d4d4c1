"""Training curves: train loss per step, val loss and val metrics per epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from src.plots.figures import label_grid, note, save_png

METRICS = ("val/auc_macro", "val/f1_macro", "val/f1_micro")


def plot_training_curves(history: dict[str, Any], path: str | Path) -> Path:
    """Left: losses against the global step; right: validation metrics per epoch."""
    fig, (loss_ax, metric_ax) = label_grid(2, "training curves", columns=2)
    steps, epochs = history.get("steps", []), history.get("epochs", [])
    if steps:
        x, y = zip(*steps, strict=True)
        loss_ax.plot(x, y, lw=0.8, alpha=0.5, label="train loss (step)")
    with_train = [e for e in epochs if "train/loss" in e]
    if with_train:
        loss_ax.plot(
            [e["step"] for e in with_train],
            [e["train/loss"] for e in with_train],
            "o-",
            label="train loss (epoch mean)",
        )
    with_val = [e for e in epochs if "val/loss" in e]
    if with_val:
        loss_ax.plot(
            [e["step"] for e in with_val], [e["val/loss"] for e in with_val], "s-", label="val loss"
        )
    loss_ax.set(xlabel="global step", ylabel="BCE loss", title="loss")
    if steps or epochs:
        loss_ax.legend(fontsize=7)
    else:
        note(loss_ax, "no training steps recorded")
    for key in METRICS:
        points = [(e["epoch"], e[key]) for e in epochs if key in e]
        if points:
            x, y = zip(*points, strict=True)
            metric_ax.plot(x, y, "o-", label=key)
    metric_ax.set(xlabel="epoch", ylabel="score", title="validation metrics")
    if any(key in e for e in epochs for key in METRICS):
        metric_ax.legend(fontsize=7)
    else:
        note(metric_ax, "no validation epoch recorded")
    return save_png(fig, path)
