"""The project's test metrics recomputed on many bootstrap resamples of the test rows at once.

A resample is a row of integer weights (how many times each test row was drawn), so a whole
batch of resamples is one [resamples, rows] matrix and every metric is a few matrix products
and cumulative sums over it: 1,000 resamples of 1,000 rows take milliseconds per run, where
re-scoring each resample with sklearn would take minutes for a sweep.

The definitions are the project's (``src.tasks.<task>.metrics``): multi-label macro AUC is the
mean of the per-label AUROC over the labels with both classes among their scored rows (targets
of -1 are unscored), macro-F1 the mean per-label F1 at ``prob >= 0.5`` (0 when a label has no
positive and no positive prediction), micro-F1 over all scored cells; multi-class accuracy,
macro-F1 over the classes that occur in the targets or predictions, and support-weighted F1 of
the arg-max class."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

UNSCORED = -1
THRESHOLD = 0.5

MetricFunction = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def resample_weights(rows: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """[resamples, rows] counts: how often each row is drawn in each bootstrap resample."""
    draws = rng.integers(0, rows, size=(resamples, rows)) + rows * np.arange(resamples)[:, None]
    counts = np.bincount(draws.ravel(), minlength=resamples * rows)
    return counts.reshape(resamples, rows).astype(np.float64)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (sklearn's zero_division=0)."""
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def weighted_auc(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC of one label under each row of ``weights`` [B, n] (ties count one half, as
    sklearn); NaN where a resample holds only one class."""
    order = np.argsort(scores, kind="stable")
    sorted_scores, pos = scores[order], positive[order]
    w = weights[:, order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    w_pos = np.add.reduceat(np.where(pos, w, 0.0), starts, axis=1)  # [B, tie groups]
    w_neg = np.add.reduceat(np.where(pos, 0.0, w), starts, axis=1)
    below = np.cumsum(w_neg, axis=1) - w_neg
    total = w_pos.sum(axis=1) * w_neg.sum(axis=1)
    wins = (w_pos * (below + 0.5 * w_neg)).sum(axis=1)
    return np.divide(wins, total, out=np.full(len(w), np.nan), where=total > 0)


def multilabel_auc_macro(probs: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Macro AUC per resample: mean over the labels with both classes in that resample."""
    per_label = np.stack(
        [
            weighted_auc(probs[valid, j], targets[valid, j] == 1, weights[:, valid])
            for j in range(targets.shape[1])
            for valid in [targets[:, j] != UNSCORED]
        ],
        axis=1,
    )
    counted = (~np.isnan(per_label)).sum(axis=1)
    return np.divide(
        np.nansum(per_label, axis=1), counted, out=np.full(len(weights), np.nan), where=counted > 0
    )


def _multilabel_counts(
    probs: np.ndarray, targets: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, ...]:
    valid, positive = targets != UNSCORED, targets == 1
    predicted = probs >= np.asarray(THRESHOLD, dtype=probs.dtype)
    tp = weights @ (predicted & positive).astype(float)  # [B, labels]
    fp = weights @ (predicted & valid & ~positive).astype(float)
    fn = weights @ (~predicted & positive).astype(float)
    return tp, fp, fn, weights @ valid.astype(float)


def multilabel_f1_macro(probs: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Macro-F1 at 0.5 per resample, over the labels with a scored row in the resample."""
    tp, fp, fn, scored = _multilabel_counts(probs, targets, weights)
    f1 = np.where(scored > 0, _safe_ratio(2 * tp, 2 * tp + fp + fn), np.nan)
    return np.nanmean(f1, axis=1)


def multilabel_f1_micro(probs: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Micro-F1 at 0.5 per resample, over every scored (row, label) cell."""
    tp, fp, fn, _ = (x.sum(axis=1) for x in _multilabel_counts(probs, targets, weights))
    return _safe_ratio(2 * tp, 2 * tp + fp + fn)


def _multiclass_counts(
    probs: np.ndarray, targets: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, ...]:
    classes = np.arange(probs.shape[1])
    predicted = probs.argmax(axis=1)
    truth = (targets[:, None] == classes).astype(float)
    guess = (predicted[:, None] == classes).astype(float)
    tp = weights @ (truth * guess)  # [B, classes]
    return tp, weights @ guess - tp, weights @ truth - tp, weights @ truth


def multiclass_accuracy(probs: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Accuracy of the arg-max class per resample."""
    return weights @ (probs.argmax(axis=1) == targets).astype(float) / weights.sum(axis=1)


def _multiclass_f1(probs, targets, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp, fp, fn, support = _multiclass_counts(probs, targets, weights)
    denom = 2 * tp + fp + fn
    return _safe_ratio(2 * tp, denom), denom > 0, support


def multiclass_f1_macro(probs: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Macro-F1 per resample over the classes present in its targets or predictions."""
    f1, present, _ = _multiclass_f1(probs, targets, weights)
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def multiclass_f1_weighted(
    probs: np.ndarray, targets: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Support-weighted F1 per resample."""
    f1, _, support = _multiclass_f1(probs, targets, weights)
    return _safe_ratio((f1 * support).sum(axis=1), support.sum(axis=1))


#: test metric -> its resampled form, per kind of targets ([N, L] multi-label, [N] multi-class)
MULTILABEL: dict[str, MetricFunction] = {
    "test/auc_macro": multilabel_auc_macro,
    "test/f1_macro": multilabel_f1_macro,
    "test/f1_micro": multilabel_f1_micro,
}
MULTICLASS: dict[str, MetricFunction] = {
    "test/accuracy": multiclass_accuracy,
    "test/f1_macro": multiclass_f1_macro,
    "test/f1_weighted": multiclass_f1_weighted,
}


def resampled_metric(metric: str, targets: np.ndarray) -> MetricFunction | None:
    """The resampled form of a test metric for these targets; None when it cannot be
    recomputed from probabilities alone (tuned-threshold F1, token metrics)."""
    return (MULTILABEL if targets.ndim == 2 else MULTICLASS).get(metric)
