"""Label-cardinality inconsistency combined with uncertainty (after Li and Guo, IJCAI 2013)."""

from __future__ import annotations

import numpy as np

from src.active.strategies.base import PoolView, Strategy, binary_entropy, require


class CardinalityInconsistency(Strategy):
    """score(x) = u(x)^β · (1 + |ĉ(x) − c̄|)^(1−β).

    ``u(x)``: mean binary entropy over labels (bits, in [0, 1]); ``ĉ(x) = Σ_l 1[p_l >=
    threshold]``, the predicted number of labels; ``c̄``: the mean number of positive labels
    per labelled row. A row whose predicted label count is far from what labelled rows carry
    is probably mispredicted; the uncertainty factor breaks ties among equal counts and keeps
    confident rows back. β = 1 is pure entropy sampling; β = 0 pure cardinality inconsistency
    (Li and Guo combine max-margin uncertainty and this inconsistency the same way).
    """

    name = "cardinality"

    def __init__(self, threshold: float = 0.5, beta: float = 0.5) -> None:
        if not 0.0 <= float(beta) <= 1.0:
            raise ValueError(f"cardinality beta must be in [0, 1], got {beta!r}")
        self.threshold = float(threshold)
        self.beta = float(beta)

    def scores(self, pool: PoolView) -> np.ndarray:
        probs = require(pool.probs, "pool probabilities", self.name)
        labelled = require(pool.labelled_targets, "the labels of the labelled rows", self.name)
        if len(labelled) == 0:
            raise ValueError("cardinality needs at least one labelled row")
        mean_cardinality = (labelled == 1).sum(axis=1).mean()
        predicted = (probs >= self.threshold).sum(axis=1)
        inconsistency = np.abs(predicted - mean_cardinality)
        uncertainty = binary_entropy(probs).mean(axis=1)
        score = uncertainty**self.beta * (1 + inconsistency) ** (1 - self.beta)
        return np.round(score, 12)
