"""Query strategies: each scores the unlabelled pool and picks the top ``k`` rows.

A strategy sees only a :class:`PoolView` (predictions on the unlabelled rows and the labels of
the rows already labelled) and the loop's seeded generator, which breaks ties. ``needs`` tells
the loop what to compute first: nothing, eval-mode probabilities, or Monte-Carlo dropout
samples. All scores are for multi-label data: one Bernoulli variable per label.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
from scipy.special import xlogy
from scipy.stats import rankdata

#: what a strategy asks the loop to compute before ``select``
NOTHING, PROBS, MC_PROBS = "nothing", "probs", "mc_probs"
DROPOUT_SCOPES = ("model", "head")


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


def require(array: np.ndarray | None, what: str, strategy: str) -> np.ndarray:
    if array is None:
        raise ValueError(f"strategy {strategy} needs {what}")
    return np.asarray(array, dtype=np.float64)


class Strategy(ABC):
    """Scores candidates (higher = query first) and picks the top ``k``.

    ``needs`` tells the loop what to compute before calling: ``NOTHING``, ``PROBS`` or
    ``MC_PROBS``. Ties are broken at random with the loop's seeded generator.
    """

    needs: ClassVar[str] = PROBS
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


@runtime_checkable
class MonteCarloSettings(Protocol):
    """What a strategy that ``needs`` ``MC_PROBS`` sets (as :class:`BALD` does): how many
    dropout passes the loop runs and where dropout is on."""

    mc_passes: int
    dropout_scope: str


# -- random and uncertainty sampling ---------------------------------------------------------------
class RandomSampling(Strategy):
    """Uniformly random candidates (seeded); needs no model output. The baseline every
    strategy has to beat."""

    needs = NOTHING
    name = "random"

    def scores(self, pool: PoolView) -> np.ndarray:
        return np.zeros(pool.size)

    def select(self, pool: PoolView, k: int, rng: np.random.Generator) -> np.ndarray:
        if not 0 < k <= pool.size:
            raise ValueError(f"cannot pick {k} of {pool.size} candidates")
        return rng.choice(pool.size, size=k, replace=False)


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


# -- BALD ------------------------------------------------------------------------------------------
class BALD(Strategy):
    """BALD (Houlsby et al. 2011) with Monte-Carlo dropout (Gal et al. 2017), multi-label form:
    the mutual information between a row's labels and the model weights, summed over labels.

    With T dropout passes giving p_{t,l}(x), each label is a Bernoulli variable:
    ``I_l(x) = H(mean_t p_{t,l}) - mean_t H(p_{t,l})`` (binary entropies, bits), and
    ``score(x) = Σ_l I_l(x)`` (labels treated as independent given the weights). High when the
    passes disagree confidently; 0 when every pass says the same.

    Args:
        mc_passes: T, the number of dropout passes the loop runs over the pool.
        dropout_scope: ``model``: dropout on in the encoder and head (T encoder passes);
            ``head``: the encoder runs once in eval mode, dropout only in the head (cheap).
    """

    needs = MC_PROBS
    name = "bald"

    def __init__(self, mc_passes: int = 10, dropout_scope: str = "model") -> None:
        if not isinstance(mc_passes, int) or mc_passes < 2:
            raise ValueError(f"active.mc_passes must be an integer >= 2, got {mc_passes!r}")
        if dropout_scope not in DROPOUT_SCOPES:
            raise ValueError(f"bald dropout_scope must be one of {DROPOUT_SCOPES}")
        self.mc_passes = mc_passes
        self.dropout_scope = dropout_scope

    def scores(self, pool: PoolView) -> np.ndarray:
        mc = require(pool.mc_probs, "Monte-Carlo dropout probabilities [T, N, L]", self.name)
        if mc.ndim != 3:
            raise ValueError(f"bald needs mc_probs of shape [T, N, L], got {mc.shape}")
        predictive = binary_entropy(mc.mean(axis=0))  # [N, L]
        expected = binary_entropy(mc).mean(axis=0)  # [N, L]
        return np.round((predictive - expected).sum(axis=1), 12)


# -- CVIRS -----------------------------------------------------------------------------------------
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
    """CVIRS, Category Vector Inconsistency and Ranking of Scores: score(x) = s(x) · v(x).

    Reyes, Morell and Ventura (2018), "Effective active learning strategy for multi-label
    learning", Neurocomputing 273: 494-508, doi:10.1016/j.neucom.2017.08.001.

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


# -- label cardinality -----------------------------------------------------------------------------
class CardinalityInconsistency(Strategy):
    """Label-cardinality inconsistency combined with uncertainty (after Li and Guo, IJCAI 2013):
    score(x) = u(x)^β · (1 + |ĉ(x) − c̄|)^(1−β).

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
