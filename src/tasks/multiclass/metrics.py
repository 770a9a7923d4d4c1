"""Multi-class scores: accuracy, macro / weighted F1 and per-class F1 (one label per row).

One source of truth for the neural runs (the :class:`MulticlassScores` Metric that
``MulticlassClassifier`` logs) and the baselines (:func:`multiclass_scores`). Computed with
torchmetrics and tested against sklearn: macro F1 averages over the classes that occur in the
targets or the predictions (sklearn's default), a class that never occurs has F1 0.0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score
from torchmetrics.utilities import dim_zero_cat


def _check(preds: Tensor, targets: Tensor, label_names: Sequence[str]) -> None:
    n = len(label_names)
    if preds.ndim != 1 or preds.shape != targets.shape:
        raise ValueError(
            f"predictions and targets must both be [N] class ids, got {tuple(preds.shape)} "
            f"and {tuple(targets.shape)}"
        )
    if len(targets) and (targets.min() < 0 or targets.max() >= n):
        raise ValueError(f"targets must be class ids in 0..{n - 1}")


def scores_from_predictions(
    preds: Tensor, targets: Tensor, label_names: Sequence[str]
) -> dict[str, Tensor]:
    """0-dim tensors for predicted class ids ``preds`` [N] against ``targets`` [N]."""
    preds, targets = preds.long(), targets.long()
    _check(preds, targets, label_names)
    n = len(label_names)
    per_class = multiclass_f1_score(preds, targets, num_classes=n, average="none")
    scores = {
        "accuracy": multiclass_accuracy(preds, targets, num_classes=n, average="micro"),
        "f1_macro": multiclass_f1_score(preds, targets, num_classes=n, average="macro"),
        "f1_weighted": multiclass_f1_score(preds, targets, num_classes=n, average="weighted"),
    }
    for j, name in enumerate(label_names):
        scores[f"f1/{name}"] = per_class[j]
    return scores


def multiclass_scores(
    probs: Tensor | np.ndarray, targets: Tensor | np.ndarray, label_names: list[str]
) -> dict[str, float]:
    """Scores of the arg-max class of ``probs`` [N, C] against class ids ``targets`` [N].

    Returns:
        ``accuracy``, ``f1_macro``, ``f1_weighted`` and ``f1/<label>`` per class.

    Example:
        >>> probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
        >>> round(multiclass_scores(probs, np.array([0, 1, 1]), ["a", "b"])["accuracy"], 4)
        0.6667
    """
    probs = torch.as_tensor(probs)
    if probs.ndim != 2 or probs.shape[1] != len(label_names):
        raise ValueError(
            f"probs must be [N, {len(label_names)}] (one column per class), "
            f"got {tuple(probs.shape)}"
        )
    preds = probs.argmax(dim=1)
    scores = scores_from_predictions(preds, torch.as_tensor(targets), label_names)
    return {key: value.item() for key, value in scores.items()}


class MulticlassScores(Metric):
    """Accumulating :func:`multiclass_scores` for Lightning (predicted ids and targets kept)."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    preds: list[Tensor]  # states from add_state: batches until compute() concatenates them
    targets: list[Tensor]

    def __init__(self, label_names: list[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.label_names = list(label_names)
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("targets", default=[], dist_reduce_fx="cat")

    def update(self, probs: Tensor, targets: Tensor) -> None:
        """A batch of ``[B, C]`` probabilities (or logits) and ``[B]`` class ids."""
        self.preds.append(probs.detach().argmax(dim=1))
        self.targets.append(targets.detach().long())

    def compute(self) -> dict[str, Tensor]:
        preds, targets = dim_zero_cat(self.preds), dim_zero_cat(self.targets)
        return scores_from_predictions(preds, targets, self.label_names)


def class_ids(labels: np.ndarray) -> np.ndarray:
    """Class ids from one-hot rows ``[N, C]`` (or class ids already ``[N]``)."""
    labels = np.asarray(labels)
    return labels.argmax(axis=1) if labels.ndim == 2 else labels.astype(np.int64)
