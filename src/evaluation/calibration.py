"""Per-label calibration: expected calibration error, reliability bins, temperature scaling.

Each label is a binary problem: its predicted probability is the confidence and its 0/1 target
the outcome. Bins are ``[k/B, (k+1)/B)``, the last one closed at 1. ECE is the row-weighted
mean of ``|fraction positive - mean probability|`` over the bins (the l1 calibration error of
``torchmetrics.functional.classification.binary_calibration_error``; tested against it).

Temperature scaling divides a label's logits by one positive number ``T`` fitted on validation
by minimising the binary cross-entropy: it changes confidence, never the ranking (AUC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

UNSCORED = -1
TEMPERATURE_BOUNDS = (0.05, 20.0)


@dataclass
class ReliabilityBins:
    """Per bin: edges (B + 1), row counts, mean predicted probability, fraction positive."""

    edges: np.ndarray
    counts: np.ndarray
    mean_prob: np.ndarray
    frac_positive: np.ndarray

    @property
    def ece(self) -> float:
        total = self.counts.sum()
        if total == 0:
            return float("nan")
        gaps = np.abs(self.frac_positive - self.mean_prob)
        return float((gaps * self.counts).sum() / total)


def _valid(probs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs, targets = np.asarray(probs, dtype=np.float64), np.asarray(targets)
    keep = targets != UNSCORED
    return probs[keep], (targets[keep] == 1).astype(np.float64)


def reliability_bins(probs: np.ndarray, targets: np.ndarray, n_bins: int = 15) -> ReliabilityBins:
    """Bin one label's probabilities (``targets`` 1/0/-1; -1 rows are dropped)."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    probs, outcome = _valid(probs, targets)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.floor(probs * n_bins).astype(np.int64), 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins).astype(np.float64)
    sum_prob = np.bincount(index, weights=probs, minlength=n_bins)
    sum_pos = np.bincount(index, weights=outcome, minlength=n_bins)
    mean_prob = np.divide(sum_prob, counts, out=np.zeros(n_bins), where=counts > 0)
    frac_pos = np.divide(sum_pos, counts, out=np.zeros(n_bins), where=counts > 0)
    return ReliabilityBins(edges, counts.astype(np.int64), mean_prob, frac_pos)


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, n_bins: int = 15) -> float:
    """ECE of one label; NaN when it has no scored row.

    Example:
        >>> expected_calibration_error(np.array([0.2, 0.2, 0.9, 0.9]), np.array([0, 1, 1, 1]), 2)
        0.2
    """
    return round(reliability_bins(probs, targets, n_bins).ece, 12)


def per_label_ece(
    probs: np.ndarray, targets: np.ndarray, label_names: list[str], n_bins: int = 15
) -> dict[str, float]:
    """``{label: ECE}`` plus ``macro``: the mean over labels with scored rows."""
    scores = {
        name: expected_calibration_error(probs[:, j], targets[:, j], n_bins)
        for j, name in enumerate(label_names)
    }
    values = [v for v in scores.values() if not np.isnan(v)]
    scores["macro"] = float(np.mean(values)) if values else float("nan")
    return scores


def _bce_with_logits(logits: np.ndarray, outcome: np.ndarray) -> float:
    # log(1 + exp(-|z|)) + max(z, 0) - z*y: the numerically stable form
    losses = np.logaddexp(0.0, -np.abs(logits)) + np.maximum(logits, 0) - logits * outcome
    return float(np.mean(losses))


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The ``T`` minimising validation BCE of ``sigmoid(logits / T)``; 1.0 without both classes.

    A label with only negatives (common for rare labels in a small validation split) would
    push ``T`` to its bound, so it keeps ``T = 1``.
    """
    logits, outcome = _valid(logits, targets)
    if outcome.size == 0 or outcome.min() == outcome.max():
        return 1.0
    low, high = np.log(TEMPERATURE_BOUNDS[0]), np.log(TEMPERATURE_BOUNDS[1])
    result = minimize_scalar(
        lambda log_t: _bce_with_logits(logits / np.exp(log_t), outcome),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(result.x))


def fit_temperatures(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """One temperature per label column."""
    return np.array([fit_temperature(logits[:, j], targets[:, j]) for j in range(logits.shape[1])])


def apply_temperatures(logits: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    """Calibrated probabilities ``sigmoid(logits / T)`` (float32, like the model's outputs)."""
    scaled = np.asarray(logits, dtype=np.float64) / np.asarray(temperatures, dtype=np.float64)
    return (1.0 / (1.0 + np.exp(-scaled))).astype(np.float32)
