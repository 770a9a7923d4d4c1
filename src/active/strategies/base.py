"""The interface every query strategy implements, and the binary entropy they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import xlogy


@dataclass
class PoolView:
    """What a strategy may look at: predictions on the unlabelled rows, and revealed labels.

    Attributes:
        size: number of unlabelled candidate rows (indices returned are positions 0..size-1).
        probs: ``[size, L]`` sigmoid probabilities (model in eval mode), or None.
        mc_probs: ``[T, size, L]`` probabilities of T Monte-Carlo dropout passes, or None.
        labelled_targets: ``[M, L]`` labels of the labelled rows (1/0, -1 = unscored).
    """

    size: int
    probs: np.ndarray | None = None
    mc_probs: np.ndarray | None = None
    labelled_targets: np.ndarray | None = None


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in bits of Bernoulli(p), elementwise (0 at p = 0 or 1)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    return -(xlogy(p, p) + xlogy(1 - p, 1 - p)) / np.log(2)


class Strategy(ABC):
    """Scores candidates (higher = query first) and picks the top ``k``.

    ``needs`` tells the loop what to compute before calling: ``"nothing"``, ``"probs"`` or
    ``"mc_probs"``. Ties are broken at random with the loop's seeded generator.
    """

    needs: ClassVar[str] = "probs"
    name: ClassVar[str] = "strategy"

    @abstractmethod
    def scores(self, pool: PoolView) -> np.ndarray:
        """One informativeness score per candidate, shape ``[pool.size]``."""

    def select(self, pool: PoolView, k: int, rng: np.random.Generator) -> np.ndarray:
        """Positions of the ``k`` highest-scoring candidates, best first, without repeats."""
        if not 0 < k <= pool.size:
            raise ValueError(f"cannot pick {k} of {pool.size} candidates")
        scores = np.asarray(self.scores(pool), dtype=np.float64)
        if scores.shape != (pool.size,):
            raise ValueError(f"{self.name}: {scores.shape} scores for {pool.size} candidates")
        order = np.lexsort((rng.random(pool.size), -scores))  # by score, then a random key
        return order[:k]


def require(array: np.ndarray | None, what: str, strategy: str) -> np.ndarray:
    if array is None:
        raise ValueError(f"strategy {strategy} needs {what}")
    return np.asarray(array, dtype=np.float64)
