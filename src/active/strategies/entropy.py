"""Uncertainty sampling by the mean binary entropy over labels."""

from __future__ import annotations

import numpy as np

from src.active.strategies.base import PoolView, Strategy, binary_entropy, require


class MeanEntropy(Strategy):
    """score(x) = (1/L) Σ_l H(p_l(x)), H the binary entropy in bits; 1 = all labels at 0.5.

    Example:
        >>> MeanEntropy().scores(PoolView(2, probs=np.array([[0.5, 0.5], [0.5, 1.0]])))
        array([1. , 0.5])
    """

    name = "entropy"

    def scores(self, pool: PoolView) -> np.ndarray:
        probs = require(pool.probs, "pool probabilities", self.name)
        return np.round(binary_entropy(probs).mean(axis=1), 12)
