"""Freeze parts of an encoder for speed: embeddings, the first N layers, or all of it.

Frozen parameters get ``requires_grad=False``: autograd builds no graph through them, the
optimizer never sees them (``decay_groups`` skips them), and with the whole encoder frozen only
the head trains (the fastest option on a CPU).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from src.utils.errors import TextlabError


def encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks: BERT ``encoder.layer``, DistilBERT ``transformer.layer``."""
    for path in ("encoder.layer", "transformer.layer", "layers", "layer"):
        module: Any = encoder
        for part in path.split("."):
            module = getattr(module, part, None)
        if isinstance(module, nn.ModuleList):
            return module
    raise TextlabError(
        f"model.freeze.layers: cannot find the transformer layers of {type(encoder).__name__}; "
        "use model.freeze.encoder=true or model.freeze.layers=0"
    )


def _freeze(module: nn.Module) -> None:
    for param in module.parameters():
        param.requires_grad_(False)


def freeze_encoder(encoder: nn.Module, settings: Mapping[str, Any] | None) -> int:
    """Apply ``model.freeze`` (``embeddings``, ``layers``, ``encoder``); returns #frozen params."""
    settings = dict(settings or {})
    unknown = set(settings) - {"embeddings", "layers", "encoder"}
    if unknown:
        raise TextlabError(
            f"model.freeze has unknown keys {sorted(unknown)}; use embeddings, layers, encoder"
        )
    layers = settings.get("layers", 0) or 0
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 0:
        raise TextlabError(f"model.freeze.layers must be an integer >= 0, got {layers!r}")
    if settings.get("encoder"):
        _freeze(encoder)
    else:
        if settings.get("embeddings"):
            embeddings = getattr(encoder, "embeddings", None)
            if embeddings is None:
                raise TextlabError(
                    f"model.freeze.embeddings: {type(encoder).__name__} has no `embeddings` module"
                )
            _freeze(embeddings)
        if layers:
            stack = encoder_layers(encoder)
            if layers > len(stack):
                raise TextlabError(
                    f"model.freeze.layers={layers} but the encoder has {len(stack)} layers; "
                    f"use at most {len(stack)} (or model.freeze.encoder=true)"
                )
            for block in stack[:layers]:
                _freeze(block)
    return sum(p.numel() for p in encoder.parameters() if not p.requires_grad)
