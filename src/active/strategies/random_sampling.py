"""Random sampling: the baseline every strategy has to beat."""

from __future__ import annotations

import numpy as np

from src.active.strategies.base import PoolView, Strategy


class RandomSampling(Strategy):
    """Uniformly random candidates (seeded); needs no model output."""

    needs = "nothing"
    name = "random"

    def scores(self, pool: PoolView) -> np.ndarray:
        return np.zeros(pool.size)

    def select(self, pool: PoolView, k: int, rng: np.random.Generator) -> np.ndarray:
        if not 0 < k <= pool.size:
            raise ValueError(f"cannot pick {k} of {pool.size} candidates")
        return rng.choice(pool.size, size=k, replace=False)
