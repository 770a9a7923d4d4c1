"""Precision, recall, F1 and AUC per label, macro and micro, at given decision thresholds.

F1 and AUC come from :func:`src.metrics.multilabel.multilabel_scores` (so they equal what
training logs); precision and recall are added with the same rules: ``prob >= threshold`` is
positive, -1 targets are dropped per label, a ratio with a zero denominator is 0 (sklearn's
``zero_division=0``), and a label with no scored row is left out of the macro means.
"""

from __future__ import annotations

import numpy as np
import torch

from src.metrics.multilabel import Threshold, multilabel_scores

UNSCORED = -1


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def scores_at_thresholds(
    probs: np.ndarray, targets: np.ndarray, label_names: list[str], threshold: Threshold = 0.5
) -> dict[str, float]:
    """Keys: ``{precision,recall,f1}_{macro,micro}``, ``auc_macro``, ``{metric}/{label}``."""
    scores = multilabel_scores(probs, targets, label_names, threshold)
    probs_t = torch.as_tensor(np.asarray(probs))
    # the same comparison as multilabel_scores: thresholds in the probabilities' dtype
    thresholds = torch.as_tensor(threshold, dtype=probs_t.dtype).numpy()
    probs = probs_t.numpy()
    targets = np.asarray(targets)
    valid = targets != UNSCORED
    positive = targets == 1
    predicted = probs >= thresholds
    tp = (predicted & positive).sum(0).astype(np.float64)
    fp = (predicted & valid & ~positive).sum(0).astype(np.float64)
    fn = (~predicted & positive).sum(0).astype(np.float64)
    has_rows = valid.any(0)
    per_label = {
        "precision": np.where(has_rows, _ratio(tp, tp + fp), np.nan),
        "recall": np.where(has_rows, _ratio(tp, tp + fn), np.nan),
    }
    for metric, values in per_label.items():
        scores[f"{metric}_macro"] = float(np.nanmean(values)) if has_rows.any() else float("nan")
        for j, name in enumerate(label_names):
            scores[f"{metric}/{name}"] = float(values[j])
    scores["precision_micro"] = float(_ratio(tp.sum(), tp.sum() + fp.sum()))
    scores["recall_micro"] = float(_ratio(tp.sum(), tp.sum() + fn.sum()))
    return dict(sorted(scores.items()))
