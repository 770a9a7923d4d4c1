"""Multi-label ROC AUC and F1 scores that skip unscored (-1) targets.

Targets are ``[N, L]`` with entries 1 (positive), 0 (negative) or -1 (unscored). Jigsaw's
``test_labels.csv`` marks rows left out of scoring with -1, so each label is scored only on its
own valid rows, and -1 entries never count towards the micro F1 totals.

Why not ``torchmetrics.classification.MultilabelAUROC``: it scores a label with no positive
example as 0.0 and keeps it in the macro mean, which drags the mean down. Here such a label (or
one with no negative example) gets AUC = NaN and is left out of the mean, as sklearn's
``roc_auc_score`` per label and the Jigsaw competition do.

``scores_at_thresholds`` adds precision and recall with the same rules (``prob >= threshold``
is positive, a ratio with a zero denominator is 0, a label with no scored row is left out of
the macro means), for the evaluation report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.classification import binary_auroc
from torchmetrics.utilities import dim_zero_cat

UNSCORED = -1
Threshold = float | Sequence[float]


def _check_shapes(probs: Tensor, targets: Tensor, label_names: Sequence[str]) -> None:
    if probs.ndim != 2 or probs.shape != targets.shape or probs.shape[1] != len(label_names):
        raise ValueError(
            f"probs and targets must both be [N, {len(label_names)}] (one column per label), "
            f"got {tuple(probs.shape)} and {tuple(targets.shape)}"
        )


def _scores(
    probs: Tensor, targets: Tensor, label_names: Sequence[str], threshold: Threshold
) -> dict[str, Tensor]:
    """Shared computation for the function and the Metric; returns 0-dim tensors."""
    _check_shapes(probs, targets, label_names)
    if not probs.is_floating_point():
        probs = probs.float()
    if ((probs < 0) | (probs > 1)).any():
        raise ValueError("probs must be probabilities in [0, 1] (apply sigmoid to logits first)")
    if not ((targets == 0) | (targets == 1) | (targets == UNSCORED)).all():
        raise ValueError(f"targets must be 0, 1 or {UNSCORED} (unscored)")
    n_labels = len(label_names)
    thresholds = torch.as_tensor(threshold, dtype=probs.dtype, device=probs.device)
    if thresholds.ndim > 1 or thresholds.numel() not in (1, n_labels):
        raise ValueError(f"threshold must be a float or {n_labels} floats, got {threshold!r}")

    valid = targets != UNSCORED
    positive = targets == 1
    predicted = probs >= thresholds  # ">=": a prob equal to the threshold counts as positive
    tp = (predicted & positive).sum(0).double()  # positive implies valid
    fp = (predicted & valid & ~positive).sum(0).double()
    fn = (~predicted & positive).sum(0).double()

    def f1(tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
        # 2TP / (2TP + FP + FN) is F1; 0 when nothing is positive (sklearn's zero_division=0).
        denom = 2 * tp + fp + fn
        return torch.where(denom > 0, 2 * tp / denom.clamp(min=1), 0.0)

    has_rows = valid.any(0)
    f1_per_label = torch.where(has_rows, f1(tp, fp, fn), torch.nan)  # no valid row: NaN
    auc_per_label = torch.full((n_labels,), torch.nan, dtype=torch.float64, device=probs.device)
    for j in range(n_labels):
        label_probs, label_pos = probs[valid[:, j], j], positive[valid[:, j], j]
        if label_pos.any() and not label_pos.all():  # AUC needs both classes
            auc_per_label[j] = binary_auroc(label_probs, label_pos.long())

    scores = {
        "auc_macro": auc_per_label.nanmean(),  # NaN when no label has both classes
        "f1_macro": f1_per_label.nanmean(),
        "f1_micro": f1(tp.sum(), fp.sum(), fn.sum()),
    }
    for j, name in enumerate(label_names):
        scores[f"auc/{name}"] = auc_per_label[j]
        scores[f"f1/{name}"] = f1_per_label[j]
    return scores


def multilabel_scores(
    probs: Tensor | np.ndarray,
    targets: Tensor | np.ndarray,
    label_names: list[str],
    threshold: Threshold = 0.5,
) -> dict[str, float]:
    """Macro/per-label ROC AUC and macro/micro/per-label F1, ignoring -1 targets.

    Args:
        probs: ``[N, L]`` predicted probabilities in [0, 1].
        targets: ``[N, L]`` entries 1, 0 or -1; -1 entries are dropped per label.
        label_names: one name per column, used in the per-label keys.
        threshold: a prediction is positive when ``prob >= threshold``; one float for all
            labels or one per label.

    Returns:
        ``auc_macro``, ``f1_macro``, ``f1_micro`` and, per label, ``auc/{name}`` and
        ``f1/{name}``. A label lacking either class in its valid rows has AUC NaN and is left
        out of ``auc_macro``; a label with no valid row has F1 NaN and is left out of
        ``f1_macro``. Per-label F1 is 0.0 when a label has no true and no predicted positive.

    Raises:
        ValueError: on mismatched shapes, probabilities outside [0, 1], target values other
            than 0/1/-1, or a threshold sequence of the wrong length.
    """
    scores = _scores(torch.as_tensor(probs), torch.as_tensor(targets), label_names, threshold)
    return {key: value.item() for key, value in scores.items()}


class MultilabelScores(Metric):
    """Accumulating :func:`multilabel_scores` for Lightning; keeps all rows until ``compute``.

    AUC needs every prediction at once, so the states are lists of batches concatenated on
    ``compute`` (and gathered across processes under DDP).

    Example:
        >>> metric = MultilabelScores(["toxic", "insult"])
        >>> metric.update(torch.tensor([[0.9, 0.2], [0.1, 0.7]]), torch.tensor([[1, 0], [0, 1]]))
        >>> metric.update(torch.tensor([[0.6, 0.4]]), torch.tensor([[0, -1]]))
        >>> round(metric.compute()["f1/toxic"].item(), 3)
        0.667
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    probs: list[Tensor]  # states from add_state: batches until compute() concatenates them
    targets: list[Tensor]

    def __init__(self, label_names: list[str], threshold: Threshold = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.label_names = list(label_names)
        self.threshold = threshold
        self.add_state("probs", default=[], dist_reduce_fx="cat")
        self.add_state("targets", default=[], dist_reduce_fx="cat")

    def update(self, probs: Tensor, targets: Tensor) -> None:
        """Store a batch of ``[B, L]`` probabilities and 1/0/-1 targets."""
        _check_shapes(probs, targets, self.label_names)
        self.probs.append(probs.detach())
        self.targets.append(targets.detach())

    def compute(self) -> dict[str, Tensor]:
        """Scores over all stored rows, with the keys of :func:`multilabel_scores`."""
        probs, targets = dim_zero_cat(self.probs), dim_zero_cat(self.targets)
        return _scores(probs, targets, self.label_names, self.threshold)


# -- precision and recall beside F1 and AUC, at any thresholds ---------------------------------
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
