"""Multi-label classification: each text may carry any number of labels (Jigsaw, GoEmotions).

Sigmoid per label, binary cross-entropy over the scored entries (-1 marks an unscored label,
as in Jigsaw's test labels), AUC and F1 that skip unscored entries, decision thresholds per
label (``thresholds.json``, tuned on validation after fit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from src.config import plain_dict
from src.errors import TextlabError
from src.tasks.base import Task
from src.tasks.multilabel.metrics import MultilabelScores

UNSCORED = -1
DEFAULT_THRESHOLD = 0.5


class MaskedBCEWithLogits(nn.Module):
    """BCE-with-logits over entries whose target is not -1, with optional per-label pos_weight.

    ``pos_weight`` is a non-persistent buffer: it follows the model to its device but is not
    saved in checkpoints (it is recomputed from the training data when training starts), so
    checkpoints with and without it load into the same model.
    """

    pos_weight: torch.Tensor | None  # a buffer (register_buffer)

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("pos_weight", None, persistent=False)

    def set_pos_weight(self, weights: torch.Tensor | None) -> None:
        self.pos_weight = None if weights is None else weights.detach().to(torch.float32)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scored = labels >= 0
        weight = None
        if self.pos_weight is not None:
            weight = self.pos_weight.to(logits.device).expand_as(logits)[scored]
        return F.binary_cross_entropy_with_logits(logits[scored], labels[scored], pos_weight=weight)


def pos_weights_from_labels(labels: np.ndarray, cap: float) -> torch.Tensor:
    """``[L]`` BCE positive weights from a ``[N, L]`` 1/0/-1 label matrix: negatives/positives
    per label (a label's positives weigh as much in the loss as its negatives), capped so a
    label with a handful of positives does not dominate; a label with none gets ``cap``.

    Example:
        >>> pos_weights_from_labels(np.array([[1, 0], [0, 0], [0, 1], [0, 0]]), cap=10.0)
        tensor([3., 3.])
    """
    labels = np.asarray(labels)
    positives = (labels == 1).sum(axis=0).astype(np.float64)
    negatives = (labels == 0).sum(axis=0).astype(np.float64)
    ratio = np.divide(negatives, positives, out=np.full_like(negatives, cap), where=positives > 0)
    return torch.as_tensor(np.minimum(ratio, cap), dtype=torch.float32)


def pos_weight_cap(settings: Mapping[str, Any] | None) -> float | None:
    """``data.task.pos_weight`` -> its cap when enabled, else None."""
    if not settings or not settings.get("enabled", False):
        return None
    cap = settings.get("cap")
    if isinstance(cap, bool) or not isinstance(cap, int | float) or cap < 1:
        raise TextlabError(
            f"data.task.pos_weight.cap must be a number >= 1, got {cap!r}; "
            "e.g. data.task.pos_weight.cap=30"
        )
    return float(cap)


def prior_log_odds(labels: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Log-odds of each label's prevalence among its scored rows."""
    labels = np.asarray(labels)
    scored = labels >= 0
    positives = ((labels == 1) & scored).sum(axis=0)
    prevalence = np.clip(positives / np.maximum(scored.sum(axis=0), 1), eps, 1 - eps)
    return np.log(prevalence / (1 - prevalence))


class MultilabelTask(Task):
    """Sigmoid per label; BCE (optionally pos-weighted); AUC/F1 skipping unscored entries.

    Args:
        pos_weight: ``{enabled, cap}``: BCE pos_weight = negatives/positives per label of the
            training split, capped; off by default.
    """

    name: ClassVar[str] = "multilabel"
    prog_bar: ClassVar[frozenset[str]] = frozenset({"auc_macro", "f1_macro"})
    headline: ClassVar[tuple[str, ...]] = (
        "auc_macro",
        "f1_macro",
        "f1_micro",
        "tuned/f1_macro",
        "tuned/f1_micro",
    )
    per_label_thresholds: ClassVar[bool] = True

    def __init__(self, pos_weight: Mapping[str, Any] | None = None) -> None:
        self.pos_weight = plain_dict(pos_weight)
        self.pos_weight_cap = pos_weight_cap(self.pos_weight)

    def loss(self, label_names: list[str]) -> nn.Module:
        return MaskedBCEWithLogits()

    def fit_loss(self, loss: nn.Module, train_labels: np.ndarray) -> None:
        if self.pos_weight_cap is not None:
            assert isinstance(loss, MaskedBCEWithLogits)  # the module `loss()` made
            loss.set_pos_weight(pos_weights_from_labels(train_labels, self.pos_weight_cap))

    def scores(self, label_names: list[str]) -> MultilabelScores:
        return MultilabelScores(label_names)

    def update_scores(self, scores: Any, logits: torch.Tensor, batch: dict[str, Any]) -> None:
        scores.update(self.probabilities(logits), batch["labels"])

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def prior_logits(self, train_labels: np.ndarray) -> np.ndarray:
        return prior_log_odds(train_labels)

    def config(self) -> dict[str, Any]:
        return {"pos_weight": self.pos_weight}
