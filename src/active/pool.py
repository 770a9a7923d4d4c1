"""The simulated pool: which rows are labelled, in the order they were revealed."""

from __future__ import annotations

import numpy as np


def pool_subset(train_size: int, pool_size: int | None, seed: int) -> np.ndarray:
    """Rows of the training split that form the pool: all, or a seeded subset (sorted)."""
    if pool_size is None or pool_size >= train_size:
        return np.arange(train_size)
    return np.sort(np.random.default_rng(seed).choice(train_size, size=pool_size, replace=False))


class Pool:
    """Positions 0..size-1; a row's labels are revealed only once it is added."""

    def __init__(self, size: int, labelled: np.ndarray | None = None) -> None:
        self.size = int(size)
        self._labelled: list[int] = []
        self._is_labelled = np.zeros(self.size, dtype=bool)
        if labelled is not None:
            self.add(labelled)

    @property
    def labelled(self) -> np.ndarray:
        """Labelled positions in the order they were revealed."""
        return np.asarray(self._labelled, dtype=np.int64)

    def unlabelled(self) -> np.ndarray:
        """Positions not labelled yet, ascending."""
        return np.flatnonzero(~self._is_labelled)

    def add(self, positions: np.ndarray) -> None:
        """Reveal these rows; a repeat or an out-of-range position is a bug, so it raises."""
        positions = np.asarray(positions, dtype=np.int64).ravel()
        if len(np.unique(positions)) != len(positions):
            raise ValueError("the same row was queried twice in one batch")
        if len(positions) and (positions.min() < 0 or positions.max() >= self.size):
            raise ValueError(f"positions outside the pool of {self.size}")
        if self._is_labelled[positions].any():
            raise ValueError("a row that is already labelled was queried again")
        self._is_labelled[positions] = True
        self._labelled.extend(int(p) for p in positions)
