"""CVIRS: Category Vector Inconsistency and Ranking of Scores.

Reyes, Morell and Ventura (2018), "Effective active learning strategy for multi-label
learning", Neurocomputing 273: 494-508, doi:10.1016/j.neucom.2017.08.001.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from src.active.strategies.base import PoolView, Strategy, require


def _entropy(*parts: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of a distribution given as arrays of probabilities."""
    total = np.zeros_like(parts[0], dtype=np.float64)
    for p in parts:
        p = np.asarray(p, dtype=np.float64)
        total -= np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return total


def rank_aggregated_uncertainty(probs: np.ndarray) -> np.ndarray:
    """s(x) = Σ_l (N − τ_l(x)) / (q (N − 1)), in [0, 1] (Borda count over labels).

    τ_l(x) is x's position (1 = most uncertain) when the N candidates are sorted by the
    margin |P(y_l = 1 | x) − P(y_l = 0 | x)| = |2 p_l − 1| of label l; ties share the average
    position. 1 means "the most uncertain candidate on every label".
    """
    n, q = probs.shape
    if n == 1:
        return np.ones(1)
    margins = np.abs(2 * probs - 1)
    positions = rankdata(margins, axis=0, method="average")  # [N, q], 1 = smallest margin
    return (n - positions).sum(axis=1) / (q * (n - 1))


def category_vector_distance(predicted: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """d(ŷ, y) for every pair: ``[N, q]`` x ``[M, q]`` 0/1 vectors -> ``[N, M]`` in [0, 1].

    With a = #(1,1), b = #(1,0), c = #(0,1), d = #(0,0) over the q labels and H the entropy:
    d = 1 when the normalised Hamming distance (b + c)/q is 1; otherwise the normalised
    variation of information ``(2 H(ŷ, y) − H(ŷ) − H(y)) / H(ŷ, y)``, with
    ``H(ŷ) = H((a+b)/q, (c+d)/q)``, ``H(y) = H((a+c)/q, (b+d)/q)``,
    ``H(ŷ, y) = H(a/q, b/q, c/q, d/q)`` (0 when the two vectors are equal and constant).
    """
    pred = predicted.astype(np.float64)
    lab = labelled.astype(np.float64)
    q = pred.shape[1]
    a = pred @ lab.T
    b = pred @ (1 - lab).T
    c = (1 - pred) @ lab.T
    d = (1 - pred) @ (1 - lab).T
    h_pred = _entropy((a + b) / q, (c + d) / q)
    h_lab = _entropy((a + c) / q, (b + d) / q)
    h_joint = _entropy(a / q, b / q, c / q, d / q)
    info = np.divide(
        2 * h_joint - h_pred - h_lab, h_joint, out=np.zeros_like(h_joint), where=h_joint > 0
    )
    return np.where((b + c) == q, 1.0, np.clip(info, 0.0, 1.0))


class CVIRS(Strategy):
    """score(x) = s(x) · v(x) (Reyes, Morell and Ventura 2018).

    ``s(x)``: the rank-aggregated uncertainty of :func:`rank_aggregated_uncertainty` (how
    uncertain x is on each label, relative to the other candidates). ``v(x)``: the category
    vector inconsistency, the mean :func:`category_vector_distance` between x's predicted label
    vector ``ŷ = 1[p >= threshold]`` and the label vectors of the labelled rows (unscored −1
    entries count as 0). It favours rows the model is unsure about whose predicted label
    combination looks unlike what has been labelled so far.
    """

    name = "cvirs"

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = float(threshold)

    def scores(self, pool: PoolView) -> np.ndarray:
        probs = require(pool.probs, "pool probabilities", self.name)
        labelled = require(pool.labelled_targets, "the labels of the labelled rows", self.name)
        if len(labelled) == 0:
            raise ValueError("cvirs needs at least one labelled row")
        predicted = (probs >= self.threshold).astype(np.float64)
        inconsistency = category_vector_distance(predicted, labelled == 1).mean(axis=1)
        return np.round(rank_aggregated_uncertainty(probs) * inconsistency, 12)
