"""Multi-class classification: exactly one class per text (dair-ai emotion).

Rows are stored one-hot (the sequence DataModule's label matrix); the loss is softmax
cross-entropy against the arg-max, optionally class-weighted; scores are accuracy and macro /
weighted F1.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from src.errors import TextlabError
from src.tasks.base import Task
from src.tasks.multiclass.metrics import MulticlassScores, class_ids

CLASS_WEIGHTS = ("none", "balanced")


def balanced_class_weights(class_ids: np.ndarray, num_classes: int) -> torch.Tensor:
    """``[C]`` float32 weights ``n_rows / (n_classes * count_c)`` (sklearn's "balanced"): every
    class weighs as much in the loss in total; a class with no row gets 1.0.

    Example:
        >>> balanced_class_weights(np.array([0, 0, 0, 1]), 2)
        tensor([0.6667, 2.0000])
    """
    counts = np.bincount(np.asarray(class_ids, dtype=np.int64), minlength=num_classes)
    total = counts.sum()
    weights = np.divide(
        total, num_classes * counts, out=np.ones(num_classes, dtype=np.float64), where=counts > 0
    )
    return torch.as_tensor(weights, dtype=torch.float32)


class WeightedCrossEntropy(nn.Module):
    """Softmax cross-entropy against one-hot rows; class weights are a non-persistent buffer
    (recomputed from the training split, not saved in checkpoints)."""

    class_weight: torch.Tensor | None  # a buffer (register_buffer)

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("class_weight", None, persistent=False)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        weight = None if self.class_weight is None else self.class_weight.to(logits.device)
        return F.cross_entropy(logits, labels.argmax(dim=1), weight=weight)


class MulticlassTask(Task):
    """Softmax over classes; cross-entropy; accuracy, macro and weighted F1.

    Args:
        class_weights: ``none`` or ``balanced`` (weights from the training split's counts).
    """

    name: ClassVar[str] = "multiclass"
    prog_bar: ClassVar[frozenset[str]] = frozenset({"accuracy", "f1_macro"})
    headline: ClassVar[tuple[str, ...]] = ("accuracy", "f1_macro", "f1_weighted")

    def __init__(self, class_weights: str | None = "none") -> None:
        value = "none" if class_weights is None else str(class_weights)
        if value not in CLASS_WEIGHTS:
            raise TextlabError(
                f"data.task.class_weights must be one of {list(CLASS_WEIGHTS)}, got {value!r}; "
                "e.g. data.task.class_weights=balanced"
            )
        self.class_weights = value

    def loss(self, label_names: list[str]) -> nn.Module:
        return WeightedCrossEntropy()

    def fit_loss(self, loss: nn.Module, train_labels: np.ndarray) -> None:
        if self.class_weights == "balanced":
            ids = class_ids(train_labels)
            loss.class_weight = balanced_class_weights(ids, np.asarray(train_labels).shape[1])

    def scores(self, label_names: list[str]) -> MulticlassScores:
        return MulticlassScores(label_names)

    def update_scores(self, scores: Any, logits: torch.Tensor, batch: dict[str, Any]) -> None:
        scores.update(self.probabilities(logits), batch["labels"].argmax(dim=1))

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=-1)

    def prior_logits(self, train_labels: np.ndarray, eps: float = 1e-4) -> np.ndarray:
        """Log prior of each class (softmax of these gives the training class frequencies)."""
        labels = np.asarray(train_labels)
        num_classes = labels.shape[1] if labels.ndim == 2 else int(labels.max()) + 1
        counts = np.bincount(class_ids(labels), minlength=num_classes)
        return np.log(np.clip(counts / counts.sum(), eps, 1.0))

    def config(self) -> dict[str, Any]:
        return {"class_weights": self.class_weights}
