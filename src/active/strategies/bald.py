"""BALD (Houlsby et al. 2011) with Monte-Carlo dropout (Gal et al. 2017), multi-label form."""

from __future__ import annotations

import numpy as np

from src.active.strategies.base import PoolView, Strategy, binary_entropy, require

DROPOUT_SCOPES = ("model", "head")


class BALD(Strategy):
    """Mutual information between a row's labels and the model weights, summed over labels.

    With T dropout passes giving p_{t,l}(x), each label is a Bernoulli variable:
    ``I_l(x) = H(mean_t p_{t,l}) - mean_t H(p_{t,l})`` (binary entropies, bits), and
    ``score(x) = Σ_l I_l(x)`` (labels treated as independent given the weights). High when the
    passes disagree confidently; 0 when every pass says the same.

    Args:
        mc_passes: T, the number of dropout passes the loop runs over the pool.
        dropout_scope: ``model``: dropout on in the encoder and head (T encoder passes);
            ``head``: the encoder runs once in eval mode, dropout only in the head (cheap).
    """

    needs = "mc_probs"
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
