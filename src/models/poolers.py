"""Turn per-token hidden states into one vector per text: the pooling hypothesis lives here.

Every pooler takes the encoder's outputs and the attention mask and ignores padding: the
vector of a text never depends on how long the other texts of its batch are (tested for each
pooler, BERT and DistilBERT). ``out_size`` is the width of the vector it returns, and
``encoder_kwargs`` what it needs the encoder to return besides the last layer.

- ``cls``: the first token's ([CLS]) last-layer vector;
- ``mean``: the mean of the real tokens' vectors;
- ``max``: the element-wise max over the real tokens' vectors;
- ``attention``: a weighted mean, the weights a softmax of each token's dot product with a
  learned query (it starts as ``mean``);
- ``cls_mean``: ``cls`` and ``mean`` concatenated (twice the width);
- ``layer_mean``: a learned softmax-weighted mix of the last ``layers`` layers' ``mean``
  vectors (it starts as their plain average).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from src.errors import TextlabError


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the positions where ``attention_mask`` is 1: ``[B, T, H] -> [B, H]``."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class Pooler(nn.Module):
    """Base: ``forward(outputs, attention_mask) -> [batch, out_size]``."""

    #: extra keyword arguments for the encoder's forward (e.g. all hidden states)
    encoder_kwargs: ClassVar[dict[str, Any]] = {}

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.out_size = hidden_size

    @classmethod
    def for_encoder(cls, encoder_config: Any, layers: int = 4) -> Pooler:
        return cls(_hidden_size(encoder_config))


class ClsPooler(Pooler):
    """The hidden state of the first token ([CLS]); no learned pooler layer, so it works for
    DistilBERT (which has none) exactly as for BERT."""

    def forward(self, outputs: Any, attention_mask: torch.Tensor) -> torch.Tensor:
        return outputs.last_hidden_state[:, 0]


class MeanPooler(Pooler):
    """Mean of the hidden states of real tokens (padding gets zero weight)."""

    def forward(self, outputs: Any, attention_mask: torch.Tensor) -> torch.Tensor:
        return masked_mean(outputs.last_hidden_state, attention_mask)


class MaxPooler(Pooler):
    """Element-wise max over the real tokens (padding can never be the max)."""

    def forward(self, outputs: Any, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = outputs.last_hidden_state
        padding = attention_mask.unsqueeze(-1) == 0
        return hidden.masked_fill(padding, torch.finfo(hidden.dtype).min).amax(dim=1)


class AttentionPooler(Pooler):
    """Softmax attention of a learned query over the token vectors, padding masked out.

    The query starts at zero, so training starts from mean pooling and learns which tokens
    matter.
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__(hidden_size)
        self.query = nn.Parameter(torch.zeros(hidden_size))
        self.scale = 1.0 / math.sqrt(hidden_size)

    def forward(self, outputs: Any, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = outputs.last_hidden_state
        scores = (hidden @ self.query.to(hidden.dtype)) * self.scale  # [B, T]
        scores = scores.float().masked_fill(attention_mask == 0, float("-inf"))
        weights = torch.softmax(scores, dim=1).to(hidden.dtype)
        return (weights.unsqueeze(-1) * hidden).sum(dim=1)


class ClsMeanPooler(Pooler):
    """``[cls ; mean]``: both views side by side (twice the width)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__(hidden_size)
        self.out_size = 2 * hidden_size

    def forward(self, outputs: Any, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = outputs.last_hidden_state
        return torch.cat([hidden[:, 0], masked_mean(hidden, attention_mask)], dim=-1)


class LayerMeanPooler(Pooler):
    """A learned softmax-weighted mix of the last ``layers`` layers' mean vectors (a scalar
    mix, as in ELMo); the weights start equal."""

    encoder_kwargs: ClassVar[dict[str, Any]] = {"output_hidden_states": True}

    def __init__(self, hidden_size: int, layers: int = 4, num_layers: int | None = None) -> None:
        super().__init__(hidden_size)
        self.layers = check_layers(layers, num_layers, "model.pooling_layers")
        self.layer_logits = nn.Parameter(torch.zeros(layers))

    @classmethod
    def for_encoder(cls, encoder_config: Any, layers: int = 4) -> Pooler:
        return cls(_hidden_size(encoder_config), layers, encoder_depth(encoder_config))

    def forward(self, outputs: Any, attention_mask: torch.Tensor) -> torch.Tensor:
        states = outputs.hidden_states[-self.layers :]
        return scalar_mix([masked_mean(h, attention_mask) for h in states], self.layer_logits)


def scalar_mix(states: list[torch.Tensor], layer_logits: torch.Tensor) -> torch.Tensor:
    """``sum_i softmax(layer_logits)_i * states[i]`` (ELMo's scalar mix, without its scale):
    one learned weight per layer, equal while the logits are zero."""
    stacked = torch.stack(list(states), dim=0)
    weights = torch.softmax(layer_logits.float(), dim=0).to(stacked.dtype)
    return (weights.view(-1, *([1] * (stacked.dim() - 1))) * stacked).sum(dim=0)


def encoder_depth(encoder_config: Any) -> int | None:
    """The number of transformer layers (BERT ``num_hidden_layers``, DistilBERT ``n_layers``)."""
    return getattr(encoder_config, "num_hidden_layers", None) or getattr(
        encoder_config, "n_layers", None
    )


def check_layers(layers: Any, num_layers: int | None, option: str) -> int:
    """How many of the last layers to mix: an integer from 1 to the encoder's depth."""
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise TextlabError(f"{option} must be an integer >= 1, got {layers!r}")
    if num_layers is not None and layers > num_layers:
        raise TextlabError(
            f"{option}={layers} but the encoder has {num_layers} layers; use at most {num_layers}"
        )
    return layers


POOLERS: dict[str, type[Pooler]] = {
    "cls": ClsPooler,
    "mean": MeanPooler,
    "max": MaxPooler,
    "attention": AttentionPooler,
    "cls_mean": ClsMeanPooler,
    "layer_mean": LayerMeanPooler,
}


def _hidden_size(config: Any) -> int:
    size = getattr(config, "hidden_size", None) or getattr(config, "dim", None)
    if not size:
        raise TextlabError(f"cannot tell the hidden size of encoder config {type(config).__name__}")
    return int(size)


def build_pooler(name: str, encoder_config: Any, layers: int = 4) -> Pooler:
    """A pooler by config name (``model.pooling``) for an encoder with this config."""
    if name not in POOLERS:
        raise TextlabError(f"unknown model.pooling '{name}'; choose one of {sorted(POOLERS)}")
    return POOLERS[name].for_encoder(encoder_config, layers)
