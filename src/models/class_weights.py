"""Cross-entropy class weights from the training split: an option against class imbalance.

``balanced`` gives class ``c`` the weight ``n_rows / (n_classes * count_c)`` (sklearn's
``compute_class_weight("balanced")``), so every class weighs as much in the loss in total.
"""

from __future__ import annotations

import numpy as np
import torch

from src.utils.errors import TextlabError

CHOICES = ("none", "balanced")


def class_weight_setting(value: str | None) -> str:
    """``model.class_weights`` validated: ``none`` or ``balanced`` (a one-line error else)."""
    value = "none" if value is None else str(value)
    if value not in CHOICES:
        raise TextlabError(
            f"model.class_weights must be one of {list(CHOICES)}, got {value!r}; "
            "e.g. model.class_weights=balanced"
        )
    return value


def balanced_class_weights(class_ids: np.ndarray, num_classes: int) -> torch.Tensor:
    """``[C]`` float32 weights from ``[N]`` class ids; a class with no row gets 1.0.

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
