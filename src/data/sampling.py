"""A balanced sampler: draw training rows with rare positive labels more often.

Row ``i`` gets weight ``clip(max_j target_rate / prevalence_j, 1, max_weight)`` over the labels
``j`` it is positive for (1 if it has none), and a ``WeightedRandomSampler`` draws an epoch of
``len(train)`` rows with replacement. A label at prevalence ``p < target_rate`` has its
positives drawn about ``target_rate / p`` times as often (less once capped by ``max_weight``,
and divided by the mean weight); labels already above ``target_rate`` are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler

from src.utils.errors import TextlabError


def balanced_row_weights(labels: np.ndarray, target_rate: float, max_weight: float) -> np.ndarray:
    """``[N]`` sampling weights from a ``[N, L]`` 1/0/-1 label matrix.

    Example:
        >>> labels = np.array([[1, 0]] * 1 + [[0, 1]] * 5 + [[0, 0]] * 4)
        >>> balanced_row_weights(labels, target_rate=0.2, max_weight=10.0).tolist()[:2]
        [2.0, 1.0]
    """
    labels = np.asarray(labels)
    positives = (labels == 1).sum(axis=0)
    scored = (labels != -1).sum(axis=0)
    prevalence = np.divide(positives, scored, out=np.zeros(labels.shape[1]), where=scored > 0)
    label_weight = np.divide(
        target_rate, prevalence, out=np.ones(labels.shape[1]), where=prevalence > 0
    )
    row_weight = np.where(labels == 1, label_weight[None, :], 1.0).max(axis=1)
    return np.clip(row_weight, 1.0, max_weight)


def expected_label_rates(weights: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The rate of positives per label in rows drawn with these weights."""
    weights = np.asarray(weights, dtype=np.float64)
    return (weights[:, None] * (np.asarray(labels) == 1)).sum(axis=0) / weights.sum()


def sampler_settings(settings: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """``data.balanced_sampler`` -> (target_rate, max_weight) when enabled, else None."""
    if not settings or not settings.get("enabled", False):
        return None
    rate, cap = settings.get("target_rate"), settings.get("max_weight")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < 1:
        raise TextlabError(
            f"data.balanced_sampler.target_rate must be in (0, 1), got {rate!r}; e.g. 0.05"
        )
    if isinstance(cap, bool) or not isinstance(cap, int | float) or cap < 1:
        raise TextlabError(f"data.balanced_sampler.max_weight must be >= 1, got {cap!r}; e.g. 20")
    return float(rate), float(cap)


def balanced_sampler(
    labels: np.ndarray, target_rate: float, max_weight: float, seed: int
) -> WeightedRandomSampler:
    """Draws ``len(labels)`` rows per epoch with replacement, seeded."""
    weights = balanced_row_weights(labels, target_rate, max_weight)
    generator = torch.Generator().manual_seed(int(seed))
    return WeightedRandomSampler(
        torch.as_tensor(weights, dtype=torch.double),
        num_samples=len(weights),
        replacement=True,
        generator=generator,
    )
