"""Seeded, stratified hold-out split for multi-label (or single-label) data.

Rare labels (threat, identity_hate) would drift far from their prevalence under a plain
random split; stratifying on the label combination keeps train and validation comparable.
"""

from __future__ import annotations

import math

import numpy as np

from src.errors import TextlabError


def _strata(labels: np.ndarray, val_fraction: float) -> np.ndarray:
    """One stratum id per row: its label combination, rare combinations pooled together."""
    rows = labels.reshape(len(labels), -1)
    _, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    # A combination too small to give the validation set at least one row shares a bucket.
    min_count = max(2, math.ceil(1.0 / val_fraction))
    rare = counts[inverse] < min_count
    strata = inverse.copy()
    strata[rare] = -1
    return strata


def stratified_holdout(
    labels: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into (train, val): disjoint, covering every row, seeded.

    Each stratum gives round-down of its share to validation; the rows still needed to
    reach round(val_fraction * n) go to the strata with the largest remainders.

    Example:
        >>> y = np.array([[0, 1]] * 50 + [[1, 0]] * 50)
        >>> train, val = stratified_holdout(y, 0.2, seed=0)
        >>> len(train), len(val), int(y[val, 0].sum())
        (80, 20, 10)
    """
    labels = np.asarray(labels)
    n = len(labels)
    if not 0.0 < val_fraction < 1.0:
        raise TextlabError(
            f"data.val_fraction must be between 0 and 1 (exclusive), got {val_fraction}."
        )
    if n < 2:
        raise TextlabError(f"Need at least 2 training rows to hold out a validation set, got {n}.")
    n_val = min(max(round(val_fraction * n), 1), n - 1)
    rng = np.random.default_rng(seed)
    strata = _strata(labels, val_fraction)
    ids, sizes = np.unique(strata, return_counts=True)
    quotas = sizes * (n_val / n)
    take = np.floor(quotas).astype(np.int64)
    short = n_val - int(take.sum())
    if short > 0:
        # Largest remainder first; a seeded random key breaks ties.
        order = np.lexsort((rng.random(len(ids)), -(quotas - take)))
        take[order[:short]] += 1
    val_parts = []
    for stratum, k in zip(ids, take, strict=True):
        members = np.flatnonzero(strata == stratum)
        val_parts.append(rng.permutation(members)[:k])
    val = np.sort(np.concatenate(val_parts))
    train = np.setdiff1d(np.arange(n), val, assume_unique=True)
    return train, val
