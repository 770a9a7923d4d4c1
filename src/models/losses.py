"""Binary cross-entropy over the scored entries of a multi-label batch (-1 = unscored)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedBCEWithLogits(nn.Module):
    """BCE-with-logits over entries whose target is not -1, with optional per-label pos_weight.

    ``pos_weight`` is a non-persistent buffer: it follows the model to its device but is not
    saved in checkpoints (it is recomputed from the training data when training starts), so
    checkpoints with and without it load into the same model.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("pos_weight", None, persistent=False)

    def set_pos_weight(self, weights: torch.Tensor | None) -> None:
        self.pos_weight = None if weights is None else weights.detach().to(torch.float32)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scored = labels >= 0
        weight = None
        if self.pos_weight is not None:
            weight = self.pos_weight.to(logits.device).expand_as(logits)[scored]
        return F.binary_cross_entropy_with_logits(logits[scored], labels[scored], pos_weight=weight)
