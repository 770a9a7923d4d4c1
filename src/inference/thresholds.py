"""Turn probabilities into predicted labels with per-label thresholds.

The rule is the one ``src.metrics.multilabel.multilabel_scores`` scores with:
a label is predicted when ``prob >= threshold`` (a probability equal to it counts).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit


def apply_thresholds(probs: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Boolean ``[N, L]``: which labels each row predicts."""
    return np.asarray(probs) >= np.asarray(thresholds, dtype=np.asarray(probs).dtype)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """float32 sigmoid (scipy's ``expit``: no overflow warnings for large logits)."""
    return expit(np.asarray(logits, dtype=np.float32))
