"""Turn per-token hidden states into one sentence vector: the pooling hypothesis lives here."""

from __future__ import annotations

import torch
from torch import nn


class ClsPooler(nn.Module):
    """The hidden state of the first token ([CLS]); no learned pooler layer, so it works for
    DistilBERT (which has none) exactly as for BERT."""

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return hidden[:, 0]


class MeanPooler(nn.Module):
    """Mean of the hidden states of real tokens: padding positions get zero weight, so the
    vector of a text does not depend on how long the other texts of its batch are."""

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * mask).sum(dim=1)
        return summed / mask.sum(dim=1).clamp(min=1.0)


POOLERS: dict[str, type[nn.Module]] = {"cls": ClsPooler, "mean": MeanPooler}


def build_pooler(name: str) -> nn.Module:
    """A pooler by config name (``cls`` or ``mean``)."""
    from src.utils.errors import TextlabError

    if name not in POOLERS:
        raise TextlabError(f"unknown model.pooling '{name}'; choose one of {sorted(POOLERS)}")
    return POOLERS[name]()
