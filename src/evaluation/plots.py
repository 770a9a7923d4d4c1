"""Diagnostic plots of a run: training curves, threshold sweeps, probability histograms, ROC
and precision-recall curves, reliability diagrams (multi-label) and the confusion matrix
(multi-class). Drawn with matplotlib's object API (Agg canvas, no pyplot state) and written
atomically as PNG.

Predictions are passed as objects with ``probs`` and ``targets`` arrays ``[N, L]`` (targets
1/0, -1 = unscored).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from src.evaluation.calibration import reliability_bins
from src.evaluation.thresholds import ThresholdTuning, threshold_sweep


class Predictions(Protocol):
    """A split's probabilities and 1/0/-1 targets, both ``[N, L]``."""

    probs: np.ndarray
    targets: np.ndarray


# -- figures: one panel per label, saved as PNG ---------------------------------------------
PANEL_SIZE = (3.6, 3.0)


def label_grid(n_panels: int, title: str, columns: int = 3) -> tuple[Figure, list[Axes]]:
    """A titled figure with ``n_panels`` axes in rows of ``columns``; spare axes are hidden."""
    columns = max(1, min(columns, n_panels))
    rows = math.ceil(n_panels / columns)
    width, height = PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows + 0.6
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False).ravel().tolist()
    # fixed margins: tight_layout costs ~0.5 s per figure on a busy 2-core CPU
    fig.subplots_adjust(
        left=0.75 / width,
        right=1 - 0.1 / width,
        bottom=0.6 / height,
        top=1 - 0.6 / height,
        wspace=0.35,
        hspace=0.55,
    )
    for spare in axes[n_panels:]:
        spare.set_visible(False)
    fig.suptitle(title)
    return fig, axes[:n_panels]


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write the figure as PNG (atomically: tmp + rename) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=90)
    tmp.chmod(0o644)
    tmp.replace(path)
    return path


def note(ax: Axes, text: str) -> None:
    """A centred message in a panel that has nothing to draw."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9)


# -- training curves: train loss per step, val loss and metrics per epoch --------------------
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


# -- threshold sweeps: the tuning metric against the threshold, tuned point marked ----------
GRID = np.linspace(0.0, 1.0, 201)


def plot_threshold_sweeps(
    val: Predictions,
    label_names: list[str],
    tuning: ThresholdTuning,
    path: str | Path,
    test: Predictions | None = None,
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


# -- probability histograms per label, split by the true class ------------------------------
BINS = np.linspace(0.0, 1.0, 41)


def plot_probability_histograms(
    preds: Predictions,
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


# -- ROC and precision-recall curves per label (sklearn's, -1 rows dropped) ------------------
def _label_rows(preds: Predictions, j: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(probabilities, 0/1 targets) of label j's scored rows, None without both classes."""
    valid = preds.targets[:, j] != -1
    target = preds.targets[valid, j].astype(int)
    if target.min(initial=1) == target.max(initial=0):
        return None
    return preds.probs[valid, j], target


def plot_roc_curves(
    preds: Predictions, label_names: list[str], path: str | Path, split: str = "test"
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
    preds: Predictions, label_names: list[str], path: str | Path, split: str = "test"
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


# -- reliability diagrams: observed positive rate against mean predicted probability --------
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


# -- confusion matrix (multi-class): counts and row-normalised ------------------------------
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


# -- every multi-label plot of a run, under <run>/plots/ ------------------------------------
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
    val: Predictions,
    test: Predictions,
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
