"""Positive-class weights for BCE from training prevalence: an option against label imbalance.

``pos_weight_j = negatives_j / positives_j`` on the training split (so a label's positives
weigh as much in the loss as its negatives), capped at ``cap`` so a label with a handful of
positives does not dominate the gradient. A label with no positive example gets ``cap``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from src.utils.errors import TextlabError

UNSCORED = -1


def pos_weights_from_labels(labels: np.ndarray, cap: float) -> torch.Tensor:
    """``[L]`` weights from a ``[N, L]`` 1/0/-1 label matrix (-1 entries are not counted).

    Example:
        >>> pos_weights_from_labels(np.array([[1, 0], [0, 0], [0, 1], [0, 0]]), cap=10.0)
        tensor([3., 3.])
    """
    labels = np.asarray(labels)
    positives = (labels == 1).sum(axis=0).astype(np.float64)
    negatives = (labels == 0).sum(axis=0).astype(np.float64)
    ratio = np.divide(negatives, positives, out=np.full_like(negatives, cap), where=positives > 0)
    return torch.as_tensor(np.minimum(ratio, cap), dtype=torch.float32)


def pos_weight_settings(settings: Mapping[str, Any] | None) -> float | None:
    """``model.pos_weight`` -> its cap when enabled, else None (validated: a one-line error)."""
    if not settings or not settings.get("enabled", False):
        return None
    cap = settings.get("cap")
    if isinstance(cap, bool) or not isinstance(cap, int | float) or cap < 1:
        raise TextlabError(
            f"model.pos_weight.cap must be a number >= 1, got {cap!r}; e.g. model.pos_weight.cap=30"
        )
    return float(cap)
